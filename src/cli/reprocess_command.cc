#include "cli/reprocess_command.h"

#include <duckdb.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <span>

#include "bus/message.h"
#include "cli/lake_commands.h"
#include "delivery/delivery_stream_config.h"
#include "lake/lake_service.h"
#include "process/event_processor.h"
#include "process/processor_state.h"
#include "storage/local_object_store.h"

namespace inlet::cli {
namespace fs = std::filesystem;
namespace {

int Fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "inlet: %s\n", message.c_str());
  return code;
}

std::string DefaultConfigPath() {
  const char* env = std::getenv("INLET_CONFIG");
  return env && *env ? env : "examples/inlet.yaml";
}

std::string QuoteLiteral(std::string_view s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string QuoteIdent(std::string_view s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// "$.a" / ".a" / "a" -> "a"; "" when the path is not one top-level key.
std::string TopLevelKey(std::string_view path) {
  if (path.starts_with("$")) path.remove_prefix(1);
  if (path.starts_with(".")) path.remove_prefix(1);
  if (path.empty() || path.find_first_of(".[") != std::string_view::npos) return "";
  return std::string(path);
}

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::string DateOf(int64_t us) {
  int64_t days = us >= 0 ? us / 86'400'000'000 : -((-us + 86'399'999'999) / 86'400'000'000);
  // civil_from_days
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  return buf;
}

// ---------------------------------------------------------------------------
// RawLakeReader: the command's only DuckDB code. Reads the raw rows of a
// delivery stream's table in a time range, in event-time order, and rebuilds
// each event's JSON from the columns and `_extra`.

struct RawQuery {
  std::string glob;                   // absolute "<lake>/raw/events/**/*.parquet"
  const schema::TableSchema* table;   // the raw table
  std::string partition_time_column;  // top-level timestamp column the stream partitions by, or ""
  bool default_prefix = true;         // year=/month=/day= folders
  std::string order_column;           // top-level timestamp column of the event time, or ""
  int64_t from_us = 0;
  int64_t to_us = 0;
};

class RawLakeReader {
 public:
  ~RawLakeReader() {
    if (conn_) duckdb_disconnect(&conn_);
    if (db_) duckdb_close(&db_);
  }

  Status Open() {
    if (duckdb_open(nullptr, &db_) == DuckDBError) return Status::Internal("duckdb: cannot open");
    if (duckdb_connect(db_, &conn_) == DuckDBError)
      return Status::Internal("duckdb: cannot connect");
    return Status::Ok();
  }

  // Builds the statement; `*empty` when the location has no Parquet file.
  Status Prepare(const RawQuery& q) {
    std::string source = "read_parquet(" + QuoteLiteral(q.glob) +
                         ", hive_partitioning = true, union_by_name = true)";
    auto described = Run("DESCRIBE SELECT * FROM " + source);
    if (!described.ok()) return described.status();
    std::set<std::string> present;
    for (const auto& row : described.value()) present.insert(row[0]);

    std::string members;
    for (const auto& c : q.table->columns) {
      if (!present.contains(c.name)) continue;
      std::string col = QuoteIdent(c.name), value;
      switch (c.type->kind) {
        case schema::TypeKind::kTimestamp:
          value = "strftime(" + col + ", '%Y-%m-%dT%H:%M:%S.%fZ')";
          break;
        case schema::TypeKind::kDate:
          value = "CAST(" + col + " AS VARCHAR)";
          break;
        default:
          value = col;
      }
      members += (members.empty() ? "" : ", ") + QuoteLiteral(c.name) + ", " + value;
    }
    // merge_patch drops null members, so a NULL column is an absent field as it was.
    std::string extra =
        present.contains("_extra") ? "COALESCE(CAST(_extra AS JSON), '{}'::JSON)" : "'{}'::JSON";
    std::string payload =
        "CAST(json_merge_patch(" + extra + ", json_object(" + members + ")) AS VARCHAR)";

    std::string ptime = "_arrival_time";
    if (!q.partition_time_column.empty() && present.contains(q.partition_time_column)) {
      ptime = present.contains("_time_source")
                  ? "CASE WHEN _time_source = 'event' THEN " + QuoteIdent(q.partition_time_column) +
                        " ELSE _arrival_time END"
                  : "COALESCE(" + QuoteIdent(q.partition_time_column) + ", _arrival_time)";
    }
    std::string where = "epoch_us(" + ptime + ") >= " + std::to_string(q.from_us) +
                        " AND epoch_us(" + ptime + ") < " + std::to_string(q.to_us);
    if (q.default_prefix && present.contains("year") && present.contains("month") &&
        present.contains("day")) {
      // Partition pruning: only the day folders of the range are read.
      where +=
          " AND make_date(CAST(year AS BIGINT), CAST(month AS BIGINT), CAST(day AS BIGINT))"
          " BETWEEN DATE " +
          QuoteLiteral(DateOf(q.from_us)) + " AND DATE " + QuoteLiteral(DateOf(q.to_us - 1));
    }
    std::string order = "_seq";
    if (!q.order_column.empty() && present.contains(q.order_column))
      order = QuoteIdent(q.order_column) + " NULLS LAST, _seq";
    from_where_ = " FROM " + source + " WHERE " + where;
    select_ =
        "SELECT _seq, epoch_us(_arrival_time), " + payload + from_where_ + " ORDER BY " + order;
    return Status::Ok();
  }

  Result<uint64_t> Count() {
    auto rows = Run("SELECT count(*)" + from_where_);
    if (!rows.ok()) return rows.status();
    return std::stoull(rows.value().at(0).at(0));
  }

  // Streams the rows to `sink` in chunks of DuckDB's vector size.
  Status Stream(const std::function<Status(std::span<const bus::Message>)>& sink) {
    duckdb_prepared_statement stmt = nullptr;
    if (duckdb_prepare(conn_, select_.c_str(), &stmt) == DuckDBError) {
      std::string msg = duckdb_prepare_error(stmt);
      duckdb_destroy_prepare(&stmt);
      return Status::Internal("reading the raw lake: " + msg);
    }
    duckdb_pending_result pending = nullptr;
    duckdb_state st = duckdb_pending_prepared_streaming(stmt, &pending);
    duckdb_destroy_prepare(&stmt);
    duckdb_result result;
    if (st == DuckDBError || duckdb_execute_pending(pending, &result) == DuckDBError) {
      std::string msg = pending ? duckdb_pending_error(pending) : "no pending result";
      duckdb_destroy_pending(&pending);
      return Status::Internal("reading the raw lake: " + msg);
    }
    duckdb_destroy_pending(&pending);
    std::vector<bus::Message> messages;
    Status status;
    while (status.ok()) {
      duckdb_data_chunk chunk = duckdb_fetch_chunk(result);
      if (!chunk) break;
      idx_t n = duckdb_data_chunk_get_size(chunk);
      auto* seq =
          static_cast<int64_t*>(duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, 0)));
      auto* arr =
          static_cast<int64_t*>(duckdb_vector_get_data(duckdb_data_chunk_get_vector(chunk, 1)));
      duckdb_vector pv = duckdb_data_chunk_get_vector(chunk, 2);
      auto* payload = static_cast<duckdb_string_t*>(duckdb_vector_get_data(pv));
      uint64_t* valid = duckdb_vector_get_validity(pv);
      messages.resize(n);
      for (idx_t i = 0; i < n; ++i) {
        bus::Message& m = messages[i];
        m.seq = static_cast<uint64_t>(seq[i]);
        m.arrival_us = arr[i];
        if (valid && !duckdb_validity_row_is_valid(valid, i)) {
          m.payload = "{}";
        } else {
          m.payload.assign(duckdb_string_t_data(&payload[i]), duckdb_string_t_length(payload[i]));
        }
      }
      duckdb_destroy_data_chunk(&chunk);
      status = sink(messages);
    }
    if (status.ok() && duckdb_result_error(&result))
      status =
          Status::Internal(std::string("reading the raw lake: ") + duckdb_result_error(&result));
    duckdb_destroy_result(&result);
    return status;
  }

 private:
  Result<std::vector<std::vector<std::string>>> Run(const std::string& sql) {
    duckdb_result r;
    if (duckdb_query(conn_, sql.c_str(), &r) == DuckDBError) {
      std::string msg = duckdb_result_error(&r) ? duckdb_result_error(&r) : "unknown error";
      duckdb_destroy_result(&r);
      return Status::Internal("reading the raw lake: " + msg);
    }
    std::vector<std::vector<std::string>> rows;
    idx_t cols = duckdb_column_count(&r), n = duckdb_row_count(&r);
    for (idx_t i = 0; i < n; ++i) {
      std::vector<std::string> row;
      for (idx_t c = 0; c < cols; ++c) {
        char* v = duckdb_value_varchar(&r, c, i);
        row.emplace_back(v ? v : "");
        duckdb_free(v);
      }
      rows.push_back(std::move(row));
    }
    duckdb_destroy_result(&r);
    return rows;
  }

  duckdb_database db_ = nullptr;
  duckdb_connection conn_ = nullptr;
  std::string from_where_, select_;
};

// ---------------------------------------------------------------------------

// A one-line progress bar on stdout: rows done, total, rate and time left.
class ProgressBar {
 public:
  ProgressBar(bool enabled, uint64_t total) : enabled_(enabled), total_(total) {}
  void Update(uint64_t done, bool final = false) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (!final && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    double secs = std::chrono::duration<double>(now - start_).count();
    double frac = total_ ? double(done) / double(total_) : 1.0;
    constexpr int kWidth = 30;
    int filled = static_cast<int>(frac * kWidth);
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    double rate = secs > 0 ? double(done) / secs : 0;
    std::string left =
        rate > 0 && done < total_
            ? std::to_string(static_cast<long long>((total_ - done) / rate + 0.5)) + " s left"
            : (final ? "done" : "");
    std::printf("\r[%s] %3d%%  %llu/%llu rows  %.0f rows/s  %-12s", bar.c_str(),
                static_cast<int>(frac * 100), static_cast<unsigned long long>(done),
                static_cast<unsigned long long>(total_), rate, left.c_str());
    if (final) std::printf("\n");
    std::fflush(stdout);
  }

 private:
  bool enabled_;
  uint64_t total_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

const process::ProcessorConfig* FindProcessor(const config::Config& cfg, const std::string& name,
                                              Status* error) {
  const auto& all = cfg.process.processors;
  if (name.empty()) {
    if (all.size() == 1) return &all[0];
    *error = Status::InvalidArgument(
        all.empty() ? "the configuration has no processor"
                    : "the configuration has several processors: choose one with --processor");
    return nullptr;
  }
  for (const auto& p : all)
    if (p.name == name) return &p;
  *error = Status::NotFound("no processor named '" + name + "'");
  return nullptr;
}

Status DeletePrefix(storage::ObjectStore* store, const std::string& prefix) {
  auto objects = store->List(prefix);
  if (!objects.ok()) return objects.status();
  for (const auto& o : objects.value()) INLET_RETURN_IF_ERROR(store->Delete(o.key));
  return Status::Ok();
}

// Deletes the state of processor `name` (not of "<name>-x" or "<name>.x").
Status DeleteProcessorState(storage::ObjectStore* store, const std::string& name) {
  INLET_RETURN_IF_ERROR(store->Delete(process::ProcessorStateKey(name)));
  INLET_RETURN_IF_ERROR(store->Delete(process::ProcessorIntentKey(name)));
  const std::string prefix = "_state/processor-" + name + "-";
  auto objects = store->List(prefix);
  if (!objects.ok()) return objects.status();
  for (const auto& o : objects.value()) {
    std::string_view rest = std::string_view(o.key).substr(prefix.size());
    if (!rest.ends_with(".windows")) continue;
    rest.remove_suffix(8);
    if (rest.empty() || rest.find_first_not_of("0123456789") != std::string_view::npos) continue;
    INLET_RETURN_IF_ERROR(store->Delete(o.key));
  }
  return Status::Ok();
}

// Opens the lake's catalog with the configured tables registered and the
// current versions applied.
struct OpenedVersions {
  std::unique_ptr<lake::LakeService> service;
  std::unique_ptr<lake::TableVersions> versions;
};
Result<OpenedVersions> OpenVersions(const config::Config& cfg) {
  OpenedVersions o;
  auto service = lake::LakeService::Open(cfg.lake, cfg.storage.lake_dir, LakeTablesFromConfig(cfg));
  if (!service.ok()) return service.status();
  o.service = std::move(service).value();
  auto versions = lake::TableVersions::Open(o.service->catalog());
  if (!versions.ok()) return versions.status();
  o.versions = std::move(versions).value();
  INLET_RETURN_IF_ERROR(o.versions->ApplyCurrent());
  return o;
}

}  // namespace

Result<int64_t> ParseTimeArgument(std::string_view text) {
  auto bad = [&] {
    return Status::InvalidArgument("invalid time '" + std::string(text) +
                                   "' (expected 2024-05-01 or 2024-05-01T12:00:00Z)");
  };
  unsigned y, mo, d, h = 0, mi = 0, s = 0;
  int used = 0;
  std::string t(text);
  if (std::sscanf(t.c_str(), "%4u-%2u-%2u%n", &y, &mo, &d, &used) != 3 || used != 10) return bad();
  size_t pos = 10;
  int64_t frac_us = 0, offset_s = 0;
  if (pos < t.size()) {
    if (t[pos] != 'T' && t[pos] != 't' && t[pos] != ' ') return bad();
    int n = 0;
    if (std::sscanf(t.c_str() + pos + 1, "%2u:%2u%n", &h, &mi, &n) != 2 || n != 5) return bad();
    pos += 6;
    if (pos < t.size() && t[pos] == ':') {
      if (std::sscanf(t.c_str() + pos + 1, "%2u%n", &s, &n) != 1 || n != 2) return bad();
      pos += 3;
      if (pos < t.size() && t[pos] == '.') {
        int64_t scale = 100'000;
        ++pos;
        size_t start = pos;
        for (; pos < t.size() && t[pos] >= '0' && t[pos] <= '9'; ++pos, scale /= 10)
          frac_us += (t[pos] - '0') * scale;
        if (pos == start) return bad();
      }
    }
    if (pos < t.size()) {
      if (t[pos] == 'Z' || t[pos] == 'z') {
        ++pos;
      } else if (t[pos] == '+' || t[pos] == '-') {
        unsigned oh, om;
        if (std::sscanf(t.c_str() + pos + 1, "%2u:%2u%n", &oh, &om, &n) != 2 || n != 5)
          return bad();
        offset_s = (t[pos] == '-' ? -1 : 1) * int64_t(oh * 3600 + om * 60);
        pos += 6;
      }
    }
    if (pos != t.size()) return bad();
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return bad();
  int64_t secs = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset_s;
  return secs * 1'000'000 + frac_us;
}

Result<ReprocessReport> Reprocess(const config::Config& cfg, const ReprocessOptions& options) {
  if (!lake::IsValidVersionName(options.version) || options.version == lake::kLiveVersion)
    return Status::InvalidArgument("invalid version '" + options.version +
                                   "': 1-64 of letters, digits, '_', '-', '.', not 'live'");
  if (options.to_us <= options.from_us) return Status::InvalidArgument("--to must be after --from");
  Status error;
  const process::ProcessorConfig* original = FindProcessor(cfg, options.processor, &error);
  if (!original) return error;
  auto table_it = cfg.tables.find(original->table);
  if (table_it == cfg.tables.end())
    return Status::NotFound("processor '" + original->name + "': unknown table " + original->table);
  const schema::TableSchema& table = table_it->second;
  const delivery::DeliveryStreamConfig* stream = nullptr;
  for (const auto& d : cfg.delivery_streams)
    if (d.table.QualifiedName() == original->table) {
      stream = &d;
      break;
    }
  if (!stream)
    return Status::NotFound("no delivery stream writes " + original->table +
                            " to the raw lake, so there is nothing to re-process");

  // The processor of the new version: same stages, outputs in the version's folders.
  process::ProcessorConfig config = *original;
  // Its own name: the processor's exactly-once state (_state/processor-<name>*)
  // must not be the live processor's, and file names show the version.
  config.name = original->name + "." + options.version;
  config.aggregate.location = lake::VersionLocation(original->aggregate.location, options.version);
  config.events_location = lake::VersionLocation(original->events_location, options.version);
  config.errors_location = lake::VersionLocation(original->errors_location, options.version);
  config.aggregate.idle_close = std::chrono::milliseconds(0);  // event time alone closes windows
  config.errors_topic.clear();                                 // a replay notifies nobody
  for (auto& [category, action] : config.error_actions) {
    action.notify = false;
    action.store = true;
  }

  if (cfg.storage.s3.enabled)
    return Status::Unsupported(
        "inlet reprocess works on a local lake; this configuration keeps it in S3 (run it on a "
        "copy of the lake, see docs/reprocessing.md)");
  fs::path lake_dir = fs::absolute(cfg.storage.lake_dir).lexically_normal();
  auto store = storage::LocalObjectStore::Open(lake_dir);
  if (!store.ok()) return store.status();
  for (const auto* loc :
       {&config.aggregate.location, &config.events_location, &config.errors_location})
    INLET_RETURN_IF_ERROR(DeletePrefix(store->get(), *loc));
  INLET_RETURN_IF_ERROR(DeleteProcessorState(store->get(), config.name));

  auto processor = process::EventProcessor::Create(config, table, store->get(), nullptr, nullptr);
  if (!processor.ok()) return processor.status();
  auto worker = (*processor)->NewWorker();
  if (!worker.ok()) return worker.status();

  RawQuery q;
  q.glob = (lake_dir / delivery::EffectiveLocation(*stream)).string() + "**/*.parquet";
  q.table = &table;
  if (!stream->time_field.empty()) {
    std::string key = TopLevelKey(stream->time_field);
    const schema::Column* c = key.empty() ? nullptr : table.FindColumn(key);
    if (c && c->type->kind == schema::TypeKind::kTimestamp) q.partition_time_column = key;
  }
  q.default_prefix = stream->prefix == delivery::kDefaultPrefix;
  for (const auto& m : original->mapping) {
    if (m.column != original->aggregate.time_column || m.derive != process::Derive::kNone) continue;
    std::string key = TopLevelKey(m.path);
    const schema::Column* c = key.empty() ? nullptr : table.FindColumn(key);
    if (c && c->type->kind == schema::TypeKind::kTimestamp) q.order_column = key;
  }
  q.from_us = options.from_us;
  q.to_us = options.to_us;

  ReprocessReport report;
  bool any_file = false;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(lake_dir / delivery::EffectiveLocation(*stream), ec),
       end;
       !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file() && it->path().extension() == ".parquet" &&
        !it->path().filename().string().starts_with(".")) {
      any_file = true;
      break;
    }
  }
  if (any_file) {
    RawLakeReader reader;
    INLET_RETURN_IF_ERROR(reader.Open());
    INLET_RETURN_IF_ERROR(reader.Prepare(q));
    auto total = reader.Count();
    if (!total.ok()) return total.status();
    ProgressBar bar(options.progress, total.value());
    std::vector<const bus::Message*> batch;
    std::vector<bus::Message> pending;
    auto flush = [&]() -> Status {
      batch.clear();
      for (const auto& m : pending) batch.push_back(&m);
      auto r = (*processor)->ProcessBatch(worker->get(), batch);
      if (!r.ok()) return r.status();
      report.accepted += r->accepted;
      report.rejected += r->rejected + r->late;
      report.rows += pending.size();
      pending.clear();
      auto emitted = (*processor)->EmitReady(false);
      if (!emitted.ok()) return emitted.status();
      report.windows += emitted.value();
      bar.Update(report.rows);
      return Status::Ok();
    };
    INLET_RETURN_IF_ERROR(reader.Stream([&](std::span<const bus::Message> rows) -> Status {
      for (const auto& m : rows) {
        pending.push_back(m);
        if (pending.size() >= options.batch_rows) INLET_RETURN_IF_ERROR(flush());
      }
      return Status::Ok();
    }));
    if (!pending.empty()) INLET_RETURN_IF_ERROR(flush());
    bar.Update(report.rows, true);
  }
  auto emitted = (*processor)->EmitReady(true);
  if (!emitted.ok()) return emitted.status();
  report.windows += emitted.value();

  // Record the versions in the catalog (not made current).
  auto opened = OpenVersions(cfg);
  if (!opened.ok()) return opened.status();
  char note[256];
  std::snprintf(note, sizeof note, "reprocess [%s, %s): %llu rows, %llu accepted, %llu rejected",
                DateOf(options.from_us).c_str(), DateOf(options.to_us).c_str(),
                static_cast<unsigned long long>(report.rows),
                static_cast<unsigned long long>(report.accepted),
                static_cast<unsigned long long>(report.rejected));
  auto record = [&](const std::string& db, const std::string& name, const std::string& live,
                    const std::string& location) -> Status {
    auto existing = opened->versions->List(db, name);
    if (!existing.ok()) return existing.status();
    if (existing->empty()) {
      lake::VersionInfo l{db, name,     lake::kLiveVersion,        live,
                          "", "config", "the configured location", false};
      INLET_RETURN_IF_ERROR(opened->versions->Record(l));
    }
    lake::VersionInfo v{db,   name, options.version, location, "", "reprocess:" + config.name,
                        note, false};
    INLET_RETURN_IF_ERROR(opened->versions->Record(v));
    report.versions.push_back(v);
    return Status::Ok();
  };
  if (config.aggregate.enabled)
    INLET_RETURN_IF_ERROR(
        record("curated", "poi_presence", original->aggregate.location, config.aggregate.location));
  if (config.write_events)
    INLET_RETURN_IF_ERROR(
        record("curated", "events", original->events_location, config.events_location));
  INLET_RETURN_IF_ERROR(
      record("errors", "rejected", original->errors_location, config.errors_location));
  return report;
}

void AddReprocessCommand(CLI::App& app, int& exit_code) {
  struct State {
    std::string config = DefaultConfigPath();
    std::string from, to, version, processor, table;
    bool no_progress = false;
  };
  auto st = std::make_shared<State>();

  auto* rp = app.add_subcommand(
      "reprocess",
      "Replay the raw lake of a time range through the configured processor into a "
      "new version of the curated tables");
  rp->add_option("--config", st->config,
                 "Configuration file (default: $INLET_CONFIG or examples/inlet.yaml)");
  rp->add_option("--from", st->from, "Start (inclusive): 2024-05-01 or 2024-05-01T12:00:00Z")
      ->required();
  rp->add_option("--to", st->to, "End (exclusive), same forms")->required();
  rp->add_option("--version", st->version, "Name of the new version, e.g. v2")->required();
  rp->add_option("--processor", st->processor, "Processor to run (when there are several)");
  rp->add_flag("--no-progress", st->no_progress, "Never draw the progress bar");
  rp->callback([st, &exit_code] {
    ReprocessOptions o;
    auto from = ParseTimeArgument(st->from);
    auto to = ParseTimeArgument(st->to);
    if (!from.ok()) return void(exit_code = Fail(from.status().message(), 2));
    if (!to.ok()) return void(exit_code = Fail(to.status().message(), 2));
    o.from_us = from.value();
    o.to_us = to.value();
    o.version = st->version;
    o.processor = st->processor;
    o.progress = !st->no_progress && isatty(STDOUT_FILENO);
    auto cfg = config::LoadConfig(st->config);
    if (!cfg.ok())
      return void(exit_code = Fail("invalid configuration:\n" + cfg.status().message(), 2));
    auto report = Reprocess(cfg.value(), o);
    if (!report.ok()) {
      int code = report.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
      return void(exit_code = Fail(report.status().message(), code));
    }
    std::printf("re-processed %llu rows: %llu accepted, %llu rejected, %llu windows\n",
                static_cast<unsigned long long>(report->rows),
                static_cast<unsigned long long>(report->accepted),
                static_cast<unsigned long long>(report->rejected),
                static_cast<unsigned long long>(report->windows));
    for (const auto& v : report->versions)
      std::printf("  %s.%s version %s -> %s\n", v.database.c_str(), v.table.c_str(),
                  v.version.c_str(), v.location.c_str());
    std::printf("make it current with: inlet versions use curated.poi_presence %s\n",
                st->version.c_str());
    exit_code = 0;
  });

  auto* versions = app.add_subcommand("versions", "List or switch versions of curated tables");
  versions->require_subcommand(1);
  auto run = [st, &exit_code](const std::string& version) {
    auto name = lake::SplitQualifiedName(st->table);
    if (!name.ok()) return void(exit_code = Fail(name.status().message(), 2));
    auto cfg = config::LoadConfig(st->config);
    if (!cfg.ok())
      return void(exit_code = Fail("invalid configuration:\n" + cfg.status().message(), 2));
    auto opened = OpenVersions(cfg.value());
    if (!opened.ok()) return void(exit_code = Fail(opened.status().message()));
    const auto& [db, table] = name.value();
    if (!version.empty()) {
      Status s = opened->versions->Use(db, table, version);
      if (!s.ok()) return void(exit_code = Fail(s.message()));
    }
    auto list = opened->versions->List(db, table);
    if (!list.ok()) return void(exit_code = Fail(list.status().message()));
    if (list->empty()) std::printf("%s has no versions\n", st->table.c_str());
    for (const auto& v : list.value())
      std::printf("%s %-10s %-45s %s  %s\n", v.current ? "*" : " ", v.version.c_str(),
                  v.location.c_str(), v.created_at.c_str(), v.note.c_str());
    exit_code = 0;
  };
  auto* list = versions->add_subcommand("list", "Versions of a table (* marks the current one)");
  list->add_option("table", st->table, "Qualified table name, e.g. curated.poi_presence")
      ->required();
  list->add_option("--config", st->config,
                   "Configuration file (default: $INLET_CONFIG or examples/inlet.yaml)");
  list->callback([run] { run(""); });
  auto* use = versions->add_subcommand("use", "Make a version current (queries read it)");
  use->add_option("table", st->table, "Qualified table name")->required();
  use->add_option("version", st->version, "Version name (\"live\" for the original)")->required();
  use->add_option("--config", st->config,
                  "Configuration file (default: $INLET_CONFIG or examples/inlet.yaml)");
  use->callback([run, st] { run(st->version); });
}

}  // namespace inlet::cli
