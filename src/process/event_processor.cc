#include "process/event_processor.h"

#include <absl/container/flat_hash_map.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "delivery/parquet_writer.h"
#include "process/event_validator.h"
#include "process/field_mapper.h"
#include "process/masker.h"
#include "schema/column_batch.h"
#include "schema/time_util.h"

namespace inlet::process {
namespace {

std::shared_ptr<const schema::DataType> TypeOf(const char* text) {
  return *schema::ParseType(text);
}

std::string DayPrefix(int64_t micros) {
  schema::CivilTime c = schema::CivilFromMicros(micros);
  char buf[64];
  snprintf(buf, sizeof buf, "year=%04lld/month=%02d/day=%02d/", static_cast<long long>(c.year),
           c.month, c.day);
  return buf;
}

std::string CompactTime(int64_t micros) {
  schema::CivilTime c = schema::CivilFromMicros(micros);
  char buf[64];
  snprintf(buf, sizeof buf, "%04lld%02d%02dT%02d%02d%02d", static_cast<long long>(c.year), c.month,
           c.day, c.hour, c.minute, c.second);
  return buf;
}

std::string Rfc3339(int64_t micros) {
  schema::CivilTime c = schema::CivilFromMicros(micros);
  char buf[64];
  snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02d.%06dZ", static_cast<long long>(c.year),
           c.month, c.day, c.hour, c.minute, c.second, c.micros);
  return buf;
}

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\')
      out->push_back('\\'), out->push_back(ch);
    else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      out->append(buf);
    } else {
      out->push_back(ch);
    }
  }
  out->push_back('"');
}

void AppendValue(const Value& v, FlatType t, schema::ColumnVector* col) {
  if (!v.valid) return col->AppendNull();
  switch (t) {
    case FlatType::kString:
      return col->AppendString(v.s);
    case FlatType::kBigint:
    case FlatType::kTimestamp:
      return col->AppendInt64(v.i);
    case FlatType::kDouble:
      return col->AppendDouble(v.d);
    case FlatType::kBoolean:
      return col->AppendBool(v.i != 0);
    case FlatType::kDate:
      return col->AppendInt32(static_cast<int32_t>(v.i));
  }
}

std::atomic<uint64_t> g_stage_counter{0};

}  // namespace

// Columns of PoiPresenceSchema written from a dictionary of labels.
constexpr size_t kPresenceCategory = 4, kPresenceAgeBand = 7, kPresenceGender = 8;
// Most POI categories written from a dictionary (each file holds them all).
constexpr size_t kMaxCategoryLabels = 256;

schema::TableSchema PoiPresenceSchema() {
  schema::TableSchema t;
  t.database = "curated";
  t.name = "poi_presence";
  t.description =
      "Distinct persons and events within the radius of each POI, per window, age band and gender";
  for (auto [name, type] :
       std::vector<std::pair<const char*, const char*>>{{"window_start", "timestamp"},
                                                        {"window_end", "timestamp"},
                                                        {"poi_id", "string"},
                                                        {"poi_name", "string"},
                                                        {"poi_category", "string"},
                                                        {"lat", "double"},
                                                        {"lon", "double"},
                                                        {"age_band", "string"},
                                                        {"gender", "string"},
                                                        {"persons", "bigint"},
                                                        {"events", "bigint"}}) {
    t.columns.push_back({.name = name, .type = TypeOf(type)});
  }
  return t;
}

schema::TableSchema RejectedEventsSchema() {
  schema::TableSchema t;
  t.database = "errors";
  t.name = "rejected";
  t.description = "Events rejected by a processor, with the reason";
  for (auto [name, type] :
       std::vector<std::pair<const char*, const char*>>{{"payload", "string"},
                                                        {"category", "string"},
                                                        {"path", "string"},
                                                        {"message", "string"},
                                                        {"seq", "bigint"},
                                                        {"arrival_time", "timestamp"},
                                                        {"processor", "string"}}) {
    t.columns.push_back({.name = name, .type = TypeOf(type)});
  }
  return t;
}

struct EventProcessor::Shared {
  std::unique_ptr<FieldMapper> mapper;
  std::unique_ptr<Masker> masker_template;  // validated once; workers build their own
  AgeBands bands{{}};
  int time_idx = -1, lat_idx = -1, lon_idx = -1, age_idx = -1, gender_idx = -1, person_idx = -1;
  int person_out = -1;  // person column in the masked row (same flat index)
  schema::TableSchema presence_schema = PoiPresenceSchema();
  // How poi_presence files are built: as presence_schema, but the columns
  // with a small vocabulary (age band, gender, and the POI category when the
  // POI file has at most kMaxCategoryLabels of them) hold codes into
  // presence_labels and are written from a fixed dictionary: no string copy
  // or hash per row. Readers see strings either way.
  schema::TableSchema presence_build_schema = PoiPresenceSchema();
  std::vector<std::vector<std::string>> presence_labels;
  std::vector<int32_t> poi_category_code;  // per POI, when the category is coded
  schema::TableSchema error_schema = RejectedEventsSchema();
  std::filesystem::path staging;
  std::unique_ptr<delivery::ParquetWriter> emit_writer;
  Counter* accepted = nullptr;
  Counter* rejected[kErrorCategoryCount] = {};
  Counter* windows = nullptr;
  Counter* files = nullptr;
  Counter* notify_failures = nullptr;
  Counter* duplicates = nullptr;
  Counter dummy;
};

class EventProcessor::Worker {
 public:
  std::unique_ptr<EventValidator> validator;
  std::unique_ptr<schema::ColumnBatch> in;
  std::unique_ptr<Masker> masker;
  std::vector<FlatRow> rows;
  std::vector<int> row_message;  // message index of each row
  std::vector<PresenceInput> inputs;
  std::vector<int> input_row;
  std::vector<uint8_t> late;
  PresenceAggregator::Located located;          // POIs of inputs, found before the lock
  uint64_t rejected[kErrorCategoryCount] = {};  // of the batch, counted once it commits
  std::unique_ptr<schema::ColumnBatch> out;
  std::unique_ptr<schema::ColumnBatch> errors;
  std::unique_ptr<delivery::ParquetWriter> writer;
};

EventProcessor::~EventProcessor() {
  if (metrics_ && collector_id_ != 0) metrics_->RemoveCollector(collector_id_);
}

Result<std::unique_ptr<EventProcessor>> EventProcessor::Create(const ProcessorConfig& config,
                                                               const schema::TableSchema& table,
                                                               storage::ObjectStore* lake,
                                                               bus::Topic* errors_topic,
                                                               MetricsRegistry* metrics) {
  INLET_RETURN_IF_ERROR(ValidateProcessorConfig(config));
  auto p = std::unique_ptr<EventProcessor>(new EventProcessor());
  p->config_ = config;
  p->table_ = &table;
  p->lake_ = lake;
  p->errors_topic_ = errors_topic;
  p->shared_ = std::make_unique<Shared>();
  Shared& s = *p->shared_;
  const AggregateConfig& agg = config.aggregate;
  auto mapper = FieldMapper::Create(table, config.mapping, agg.time_column);
  if (!mapper.ok())
    return Status::InvalidArgument("processor '" + config.name + "': " + mapper.status().message());
  s.mapper = std::move(*mapper);
  auto key = LoadPseudonymKey(config.masking);
  if (!key.ok())
    return Status(key.status().code(),
                  "processor '" + config.name + "': " + key.status().message());
  p->key_ = *key;
  auto masker = Masker::Create(config.masking, s.mapper->columns(), agg.age_bands, p->key_);
  if (!masker.ok())
    return Status::InvalidArgument("processor '" + config.name + "': " + masker.status().message());
  s.masker_template = std::move(*masker);
  s.bands = AgeBands(agg.age_bands);
  s.time_idx = s.mapper->ColumnIndex(agg.time_column);

  auto events = std::make_unique<schema::TableSchema>();
  events->database = "curated";
  events->name = "events";
  for (const auto& c : s.masker_template->output_columns()) {
    events->columns.push_back({.name = c.name, .type = TypeOf(FlatTypeName(c.type))});
  }
  events->columns.push_back({.name = "_seq", .type = TypeOf("bigint")});
  events->columns.push_back({.name = "_arrival_time", .type = TypeOf("timestamp")});
  p->events_schema_ = std::move(events);

  if (agg.enabled) {
    s.lat_idx = s.mapper->ColumnIndex(agg.lat_column);
    s.lon_idx = s.mapper->ColumnIndex(agg.lon_column);
    s.age_idx = s.mapper->ColumnIndex(agg.age_column);
    s.gender_idx = s.mapper->ColumnIndex(agg.gender_column);
    s.person_idx = s.mapper->ColumnIndex(agg.person_column);
    const auto& cols = s.mapper->columns();
    if (s.time_idx < 0 || cols[s.lat_idx].type != FlatType::kDouble ||
        cols[s.lon_idx].type != FlatType::kDouble) {
      return Status::InvalidArgument(
          "processor '" + config.name +
          "': aggregate needs a timestamp time column and double lat/lon columns");
    }
    auto pois = LoadPois(agg.poi_file, agg.default_radius_m);
    if (!pois.ok())
      return Status(pois.status().code(),
                    "processor '" + config.name + "': " + pois.status().message());
    auto index = PoiIndex::Build(std::move(*pois));
    if (!index.ok()) return index.status();
    p->poi_index_ = std::move(*index);
    p->aggregator_ = std::make_unique<PresenceAggregator>(p->poi_index_.get(), agg);
    s.presence_labels.resize(s.presence_schema.columns.size());
    auto code_column = [&s](size_t i, std::vector<std::string> labels) {
      s.presence_build_schema.columns[i].type = TypeOf("int");
      s.presence_labels[i] = std::move(labels);
    };
    code_column(kPresenceAgeBand, s.bands.labels());
    code_column(kPresenceGender, {GenderLabel(0), GenderLabel(1), GenderLabel(2)});
    std::vector<std::string> categories;
    absl::flat_hash_map<std::string_view, int32_t> category_codes;
    for (const Poi& poi : p->poi_index_->pois()) {
      auto [it, added] =
          category_codes.emplace(poi.category, static_cast<int32_t>(categories.size()));
      if (added) categories.push_back(poi.category);
      s.poi_category_code.push_back(it->second);
    }
    if (categories.size() <= kMaxCategoryLabels) {
      code_column(kPresenceCategory, std::move(categories));
    } else {
      s.poi_category_code.clear();
    }
  }

  if (!config.staging_dir.empty()) {
    s.staging = config.staging_dir;
  } else {
    auto local = lake->LocalPath("_staging/process-" + config.StateName());
    s.staging = local
                    ? *local
                    : std::filesystem::temp_directory_path() /
                          ("inlet-process-" + std::to_string(getpid()) + "-" + config.StateName());
  }
  std::error_code ec;
  std::filesystem::create_directories(s.staging, ec);
  if (ec) return Status::IoError("cannot create " + s.staging.string() + ": " + ec.message());
  auto writer = delivery::ParquetWriter::Create(1);
  if (!writer.ok()) return writer.status();
  s.emit_writer = std::move(*writer);

  if (metrics) {
    const std::string l = "processor=\"" + config.name + "\"";
    s.accepted = &metrics->GetCounter("inlet_process_events_accepted_total",
                                      "Events that passed validation", l);
    for (int c = 0; c < kErrorCategoryCount; ++c) {
      s.rejected[c] = &metrics->GetCounter(
          "inlet_process_events_rejected_total", "Events rejected, by category",
          l + ",category=\"" + ErrorCategoryName(static_cast<ErrorCategory>(c)) + "\"");
    }
    s.windows = &metrics->GetCounter("inlet_process_windows_emitted_total",
                                     "poi_presence windows written", l);
    s.files = &metrics->GetCounter("inlet_process_files_written_total", "Parquet files written", l);
    s.notify_failures = &metrics->GetCounter("inlet_process_notify_failures_total",
                                             "Error notifications that could not be published", l);
    s.duplicates = &metrics->GetCounter("inlet_process_duplicates_skipped_total",
                                        "Redelivered messages already committed, skipped", l);
    EventProcessor* raw = p.get();
    p->metrics_ = metrics;
    // Counters add up over the partitions of a process; the gauges of the
    // collector are per partition.
    std::string lp = l;
    if (config.partition) lp += ",partition=\"" + std::to_string(*config.partition) + "\"";
    p->collector_id_ = metrics->AddCollector([raw, l = lp](const MetricsRegistry::Emit& emit) {
      if (!raw->aggregator_) return;
      AggregatorStats st = raw->aggregator_->Stats();
      emit("inlet_process_open_windows", "Windows holding state", "gauge", l,
           static_cast<double>(st.open_windows));
      emit("inlet_process_persons_overflow_total",
           "Person entries not tracked (max_persons_per_window)", "counter", l,
           static_cast<double>(st.persons_overflow));
      emit("inlet_process_forced_windows_total", "Windows closed early (max_open_windows)",
           "counter", l, static_cast<double>(st.forced_windows));
    });
  } else {
    s.accepted = &s.dummy;
    for (auto& c : s.rejected) c = &s.dummy;
    s.windows = s.files = s.notify_failures = s.duplicates = &s.dummy;
  }
  INLET_RETURN_IF_ERROR(p->Recover());
  return p;
}

void EventProcessor::WorkerDeleter::operator()(Worker* w) const { delete w; }

Result<EventProcessor::WorkerPtr> EventProcessor::NewWorker() {
  WorkerPtr w(new Worker());
  w->validator = std::make_unique<EventValidator>(table_, config_.max_event_bytes);
  w->in = std::make_unique<schema::ColumnBatch>(table_);
  auto masker = Masker::Create(config_.masking, shared_->mapper->columns(),
                               config_.aggregate.age_bands, key_);
  if (!masker.ok()) return masker.status();
  w->masker = std::move(*masker);
  w->out = std::make_unique<schema::ColumnBatch>(events_schema_.get());
  w->errors = std::make_unique<schema::ColumnBatch>(&shared_->error_schema);
  auto writer = delivery::ParquetWriter::Create(1);
  if (!writer.ok()) return writer.status();
  w->writer = std::move(*writer);
  return w;
}

namespace {

// Writes rows of `batch` as one Parquet file in `staging`, to be committed
// under `key`.
// `labels`, when given, has one entry per column: the dictionary of a column
// of codes (delivery::WriteColumn::labels), or empty.
Status StageParquet(delivery::ParquetWriter* writer, const schema::ColumnBatch& batch,
                    std::span<const uint32_t> rows, const std::filesystem::path& staging,
                    std::string key, std::vector<std::pair<std::string, std::string>>* out,
                    std::span<const std::vector<std::string>> labels = {}) {
  std::vector<delivery::WriteColumn> cols;
  for (size_t i = 0; i < batch.column_count(); ++i) {
    cols.push_back({batch.schema().columns[i].name, batch.column(i), false});
    if (i < labels.size()) cols.back().labels = labels[i];
  }
  std::filesystem::path staged =
      staging / ("stage-" + std::to_string(getpid()) + "-" +
                 std::to_string(g_stage_counter.fetch_add(1)) + ".parquet");
  auto size = writer->Write(cols, rows, delivery::ParquetOptions{}, staged);
  if (!size.ok()) {
    std::error_code ec;
    std::filesystem::remove(staged, ec);
    return size.status();
  }
  out->emplace_back(std::move(key), staged.string());
  return Status::Ok();
}

constexpr size_t kMaxProcessedRanges = 4096;
// Window checkpoints: deltas (batch journals) accumulate until their bytes
// pass those of the snapshot (at least this much) or their number kMaxDeltas;
// then a snapshot replaces them, so the bytes written stay proportional to
// the events while recovery reads at most about twice the state.
constexpr uint64_t kMinSnapshotBytesForDeltas = 1 << 20;
constexpr size_t kMaxDeltas = 256;

}  // namespace

int64_t EventProcessor::Floor() const {
  return aggregator_ ? aggregator_->emitted_until() : INT64_MIN;
}

void EventProcessor::SelectFresh(std::span<const bus::Message* const> messages,
                                 std::vector<const bus::Message*>* fresh,
                                 std::vector<uint64_t>* seqs, uint64_t* duplicates) const {
  // Redelivered messages whose outputs are committed are skipped (and acked
  // by the caller); so is a seq seen twice in one batch.
  SeqSet seen;
  for (const bus::Message* m : messages) {
    if (state_.processed.Contains(m->seq) || seen.Contains(m->seq)) {
      ++*duplicates;
      continue;
    }
    seen.Insert(m->seq);
    fresh->push_back(m);
    seqs->push_back(m->seq);
  }
}

bool EventProcessor::Stale(const Worker& w, std::span<const uint64_t> seqs, int64_t floor) const {
  for (uint64_t seq : seqs) {
    if (state_.processed.Contains(seq)) return true;  // another worker committed it meanwhile
  }
  const int64_t now = Floor();
  if (now == floor) return false;
  for (size_t k = 0; k < w.inputs.size(); ++k) {
    if ((aggregator_->WindowStart(w.inputs[k].time_us) < now) != (w.late[k] != 0)) return true;
  }
  return false;
}

void EventProcessor::DiscardStaged(std::vector<PendingFile>* files) {
  for (const PendingFile& f : *files) {
    std::error_code ec;
    if (!f.staged.empty()) std::filesystem::remove(f.staged, ec);
  }
  files->clear();
}

Result<BatchResult> EventProcessor::ProcessBatch(Worker* w,
                                                 std::span<const bus::Message* const> messages) {
  // The stages run without the lock, so that workers work in parallel; the
  // window update and the commit run under it, one batch at a time. If the
  // lock finds the staged outputs stale (a redelivered message committed by
  // another worker meanwhile, or windows emitted that make an event late),
  // the batch is staged again under the lock.
  std::vector<const bus::Message*> fresh;
  std::vector<uint64_t> seqs;
  uint64_t duplicates = 0;
  int64_t floor;
  {
    std::lock_guard lock(commit_mu_);
    SelectFresh(messages, &fresh, &seqs, &duplicates);
    floor = Floor();
  }
  std::vector<PendingFile> files;
  Result<BatchResult> r = BatchResult{};
  if (!fresh.empty()) r = RunStages(w, fresh, &files, floor);
  std::lock_guard lock(commit_mu_);
  if (r.ok() && !fresh.empty() && Stale(*w, seqs, floor)) {
    DiscardStaged(&files);
    fresh.clear();
    seqs.clear();
    duplicates = 0;
    SelectFresh(messages, &fresh, &seqs, &duplicates);
    floor = Floor();
    r = fresh.empty() ? Result<BatchResult>(BatchResult{}) : RunStages(w, fresh, &files, floor);
  }
  shared_->duplicates->Inc(duplicates);
  if (!r.ok()) {
    DiscardStaged(&files);
    return r.status();
  }
  r->duplicates = duplicates;
  if (fresh.empty()) return r;
  if (aggregator_ && !w->inputs.empty()) {
    // Under the lock the floor is the one the stages saw: Add finds the same late events.
    std::vector<uint8_t> late(w->inputs.size(), 0);
    aggregator_->Add(w->inputs, late, &w->located);
    if (late != w->late) {
      Rollback(&files, state_.commit + 1, false);
      return Status::Internal("processor " + config_.name +
                              ": late events changed between the stages and the window update");
    }
  }
  bool fenced = false;
  Status st = CommitUnlessFenced(&files, seqs, &fenced);
  if (!st.ok()) {
    Rollback(&files, state_.commit + 1, !fenced);
    return st;
  }
  // Counted once committed: a batch staged twice or rolled back counts once.
  shared_->accepted->Inc(r->accepted);
  for (int c = 0; c < kErrorCategoryCount; ++c) shared_->rejected[c]->Inc(w->rejected[c]);
  return r;
}

Result<BatchResult> EventProcessor::RunStages(Worker* w,
                                              std::span<const bus::Message* const> messages,
                                              std::vector<PendingFile>* files, int64_t floor) {
  Shared& s = *shared_;
  std::vector<std::pair<std::string, std::string>> staged;
  auto flush_staged = [&] {
    for (auto& [key, path] : staged) files->push_back({std::move(key), std::move(path)});
    staged.clear();
  };
  BatchResult result;
  std::fill(std::begin(w->rejected), std::end(w->rejected), 0);
  w->in->Truncate(0);
  w->out->Truncate(0);
  w->errors->Truncate(0);
  w->inputs.clear();
  w->input_row.clear();
  w->row_message.clear();
  if (w->rows.size() < messages.size()) w->rows.resize(messages.size());
  std::vector<std::pair<size_t, ErrorCategory>> rejected;  // error row -> category
  auto reject = [&](const bus::Message& m, const Rejection& r) {
    auto* e = w->errors.get();
    e->column(0)->AppendString(m.payload);
    e->column(1)->AppendString(ErrorCategoryName(r.category));
    e->column(2)->AppendString(r.path);
    e->column(3)->AppendString(r.message);
    e->column(4)->AppendInt64(static_cast<int64_t>(m.seq));
    e->column(5)->AppendInt64(m.arrival_us);
    e->column(6)->AppendString(config_.name);
    e->CommitRow();
    rejected.emplace_back(e->rows() - 1, r.category);
    ++w->rejected[static_cast<int>(r.category)];
    ++result.rejected;
  };

  const bool aggregate = aggregator_ != nullptr;
  size_t nrows = 0;
  for (size_t mi = 0; mi < messages.size(); ++mi) {
    const bus::Message& m = *messages[mi];
    Rejection rej;
    if (!w->validator->Validate(m.payload, w->in.get(), &rej)) {
      reject(m, rej);
      continue;
    }
    FlatRow& row = w->rows[nrows];
    row.seq = m.seq;
    row.arrival_us = m.arrival_us;
    s.mapper->Map(*w->in, w->in->rows() - 1, &row);
    PresenceInput in;
    bool has_location = false;
    if (aggregate) {
      const Value& lat = row.values[s.lat_idx];
      const Value& lon = row.values[s.lon_idx];
      has_location = lat.valid && lon.valid;
      in.time_us = row.values[s.time_idx].valid ? row.values[s.time_idx].i : m.arrival_us;
      in.lat = lat.d;
      in.lon = lon.d;
      const Value& age = row.values[s.age_idx];
      in.band = static_cast<uint8_t>(
          s.bands.Band(age.valid ? std::optional<int64_t>(age.i) : std::nullopt));
      in.gender = static_cast<uint8_t>(
          GenderCode(row.values[s.gender_idx].valid ? row.values[s.gender_idx].s : ""));
    }
    if (aggregate && has_location) {
      w->inputs.push_back(in);  // its person once masked, below
      w->input_row.push_back(static_cast<int>(nrows));
    }
    w->row_message.push_back(static_cast<int>(mi));
    ++nrows;
  }
  // Masking, with the memo lookups of the row kMaskAhead places ahead
  // prefetched (a cache miss each with many distinct persons).
  constexpr size_t kMaskAhead = 4;
  for (size_t r = 0; r < std::min(kMaskAhead, nrows); ++r) w->masker->Prefetch(w->rows[r]);
  for (size_t r = 0; r < nrows; ++r) {
    if (r + kMaskAhead < nrows) w->masker->Prefetch(w->rows[r + kMaskAhead]);
    w->masker->Apply(&w->rows[r]);
  }
  for (size_t k = 0; k < w->inputs.size(); ++k) {
    const Value& person = w->rows[w->input_row[k]].values[s.person_idx];
    w->inputs[k].person = std::hash<std::string_view>{}(person.valid ? std::string_view(person.s)
                                                                     : std::string_view());
  }
  std::vector<uint8_t> row_late(nrows, 0);
  w->late.assign(w->inputs.size(), 0);
  if (aggregate) aggregator_->Locate(w->inputs, &w->located);  // the POI lookups, before the lock
  if (aggregate && !w->inputs.empty()) {
    for (size_t k = 0; k < w->inputs.size(); ++k) {
      if (aggregator_->WindowStart(w->inputs[k].time_us) >= floor) continue;
      w->late[k] = 1;
      row_late[w->input_row[k]] = 1;
      const bus::Message& m = *messages[w->row_message[w->input_row[k]]];
      reject(m, {ErrorCategory::kLateEvent, "$." + config_.aggregate.time_column,
                 "the window starting " + Rfc3339(aggregator_->WindowStart(w->inputs[k].time_us)) +
                     " was already emitted (watermark " + Rfc3339(aggregator_->watermark()) + ")"});
      ++result.late;
    }
  }
  // Curated rows, grouped by event day (built only when they are written).
  const auto& sources = w->masker->output_sources();
  const auto& out_cols = w->masker->output_columns();
  std::map<std::string, std::vector<uint32_t>> days;
  int64_t last_day = INT64_MIN;
  std::vector<uint32_t>* day_rows = nullptr;
  for (size_t r = 0; r < nrows; ++r) {
    if (row_late[r]) continue;
    ++result.accepted;
    if (!config_.write_events) continue;
    const FlatRow& row = w->rows[r];
    size_t c = 0;
    for (; c < sources.size(); ++c)
      AppendValue(row.values[sources[c]], out_cols[c].type, w->out->column(c));
    if (w->masker->records_key_id()) w->out->column(c++)->AppendString(w->masker->key_id());
    w->out->column(c++)->AppendInt64(static_cast<int64_t>(row.seq));
    w->out->column(c++)->AppendInt64(row.arrival_us);
    w->out->CommitRow();
    int64_t t =
        s.time_idx >= 0 && row.values[s.time_idx].valid ? row.values[s.time_idx].i : row.arrival_us;
    const int64_t day = t / schema::kMicrosPerDay - (t % schema::kMicrosPerDay < 0);
    if (day != last_day) day_rows = &days[DayPrefix(t)], last_day = day;
    day_rows->push_back(static_cast<uint32_t>(w->out->rows() - 1));
  }
  if (config_.write_events) {
    for (const auto& [day, rows] : days) {
      const int64_t* seq = w->out->column(w->out->column_count() - 2)->int64_data();
      std::string key = config_.events_location + day + config_.StateName() + "-" +
                        std::to_string(seq[rows.front()]) + "-" + std::to_string(seq[rows.back()]) +
                        ".parquet";
      Status st = StageParquet(w->writer.get(), *w->out, rows, s.staging, key, &staged);
      flush_staged();
      INLET_RETURN_IF_ERROR(st);
    }
  }
  // Errors: stored per category and arrival day, notified per the config.
  std::map<std::string, std::vector<uint32_t>> error_files;
  std::vector<bus::OutgoingEvent> notes;
  for (const auto& [row, cat] : rejected) {
    auto it = config_.error_actions.find(cat);
    ErrorAction action = it == config_.error_actions.end() ? ErrorAction{} : it->second;
    const int64_t arrival = w->errors->column(5)->int64_data()[row];
    if (action.store) {
      error_files[config_.errors_location + ErrorCategoryName(cat) + "/" + DayPrefix(arrival)]
          .push_back(static_cast<uint32_t>(row));
    }
    if (action.notify && errors_topic_) {
      bus::OutgoingEvent ev;
      ev.payload = "{\"category\":";
      AppendJsonString(ErrorCategoryName(cat), &ev.payload);
      ev.payload += ",\"path\":";
      AppendJsonString(w->errors->column(2)->StringAt(row), &ev.payload);
      ev.payload += ",\"message\":";
      AppendJsonString(w->errors->column(3)->StringAt(row), &ev.payload);
      ev.payload += ",\"seq\":" + std::to_string(w->errors->column(4)->int64_data()[row]);
      ev.payload += ",\"arrival_time\":\"" + Rfc3339(arrival) + "\",\"processor\":";
      AppendJsonString(config_.name, &ev.payload);
      ev.payload += "}";
      ev.attributes = std::string("{\"category\":{\"DataType\":\"String\",\"StringValue\":\"") +
                      ErrorCategoryName(cat) +
                      "\"},\"processor\":{\"DataType\":\"String\",\"StringValue\":";
      AppendJsonString(config_.name, &ev.attributes);
      ev.attributes += "}}";
      notes.push_back(std::move(ev));
    }
  }
  for (const auto& [prefix, rows] : error_files) {
    const int64_t* seq = w->errors->column(4)->int64_data();
    std::string key = prefix + config_.StateName() + "-" + std::to_string(seq[rows.front()]) + "-" +
                      std::to_string(seq[rows.back()]) + ".parquet";
    Status st = StageParquet(w->writer.get(), *w->errors, rows, s.staging, key, &staged);
    flush_staged();
    INLET_RETURN_IF_ERROR(st);
  }
  // Notifications are published before the commit: at-least-once (a crash
  // before the commit publishes them again on redelivery).
  if (!notes.empty()) {
    auto r = errors_topic_->Publish(std::move(notes));
    if (!r.ok()) {
      s.notify_failures->Inc();
      return Status(r.status().code(), "publishing error notifications: " + r.status().message());
    }
  }
  return result;
}

Result<size_t> EventProcessor::EmitReady(bool all) {
  if (!aggregator_) return size_t{0};
  std::lock_guard lock(commit_mu_);
  const int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::vector<EmittedWindow> windows = aggregator_->TakeReady(all, now);
  if (windows.empty()) return size_t{0};
  Shared& s = *shared_;
  std::vector<PendingFile> files;
  std::vector<std::pair<std::string, std::string>> staged;
  Status st = Status::Ok();
  const int64_t window_us = config_.aggregate.window.count() * 1000;
  const auto& pois = poi_index_->pois();
  // Windows closed together are written together, one file per day, named
  // by the first and last window start it holds.
  std::map<std::string, std::vector<const EmittedWindow*>> by_day;
  for (const EmittedWindow& w : windows) {
    if (!w.rows.empty()) by_day[DayPrefix(w.start_us)].push_back(&w);
    if (w.forced) {
      spdlog::warn(
          "processor {}: window {} closed early: more than {} open windows (max_open_windows)",
          config_.name, Rfc3339(w.start_us), config_.aggregate.max_open_windows);
    }
  }
  for (const auto& [day, list] : by_day) {
    if (!st.ok()) break;
    schema::ColumnBatch batch(&s.presence_build_schema);
    size_t rows_in_all = 0;
    for (const EmittedWindow* w : list) rows_in_all += w->rows.size();
    batch.Reserve(rows_in_all);
    const bool coded_category = !s.poi_category_code.empty();
    for (const EmittedWindow* w : list) {
      for (const PresenceRow& r : w->rows) {
        const Poi& poi = pois[r.poi];
        batch.column(0)->AppendInt64(w->start_us);
        batch.column(1)->AppendInt64(w->start_us + window_us);
        batch.column(2)->AppendString(poi.id);
        batch.column(3)->AppendString(poi.name);
        if (coded_category) {
          batch.column(kPresenceCategory)->AppendInt32(s.poi_category_code[r.poi]);
        } else {
          batch.column(kPresenceCategory)->AppendString(poi.category);
        }
        batch.column(5)->AppendDouble(poi.lat);  // the POI's centre, for maps
        batch.column(6)->AppendDouble(poi.lon);
        batch.column(kPresenceAgeBand)->AppendInt32(r.band);
        batch.column(kPresenceGender)->AppendInt32(r.gender);
        batch.column(9)->AppendInt64(static_cast<int64_t>(r.persons));
        batch.column(10)->AppendInt64(static_cast<int64_t>(r.events));
        batch.CommitRow();
      }
    }
    std::vector<uint32_t> rows(batch.rows());
    for (uint32_t i = 0; i < rows.size(); ++i) rows[i] = i;
    std::string key = config_.aggregate.location + day + config_.StateName() + "-" +
                      CompactTime(list.front()->start_us) + "-" +
                      CompactTime(list.back()->start_us) + ".parquet";
    st = StageParquet(s.emit_writer.get(), batch, rows, s.staging, key, &staged, s.presence_labels);
    for (auto& [k, path] : staged) files.push_back({std::move(k), std::move(path)});
    staged.clear();
  }
  bool fenced = false;
  if (st.ok()) st = CommitUnlessFenced(&files, {}, &fenced);
  if (!st.ok()) {
    Rollback(&files, state_.commit + 1, !fenced);  // the windows are open again
    return st;
  }
  size_t written = 0;
  for (const EmittedWindow& w : windows) written += !w.rows.empty();
  s.windows->Inc(written);
  return windows.size();
}

uint64_t EventProcessor::committed() const {
  std::lock_guard lock(commit_mu_);
  return state_.commit;
}

uint64_t EventProcessor::ResumeAfter() const {
  std::lock_guard lock(commit_mu_);
  const auto& ranges = state_.processed.ranges();
  return ranges.empty() ? 0 : ranges.rbegin()->second;
}

// One commit: the intent (what will be written), the files, the window
// snapshot, then the state, whose atomic replacement is the commit point.
Status EventProcessor::Commit(std::vector<PendingFile>* files, std::span<const uint64_t> seqs) {
  Shared& s = *shared_;
  ProcessorState next = state_;
  next.commit = state_.commit + 1;
  for (uint64_t seq : seqs) next.processed.Insert(seq);
  if (config_.partition && !seqs.empty() && !next.processed.ranges().empty()) {
    // One worker reads a partition in sequence order (bus::Bus::OpenPartition),
    // so every id below this batch's highest is processed or belongs to
    // another partition: one range says it all.
    next.processed.InsertRange(next.processed.ranges().begin()->first,
                               *std::max_element(seqs.begin(), seqs.end()));
  }
  if (uint64_t merged = next.processed.Compact(kMaxProcessedRanges)) {
    spdlog::warn(
        "processor {}: {} unseen sequence ids below the oldest gaps are treated as "
        "processed (more than {} gaps)",
        config_.name, merged, kMaxProcessedRanges);
  }
  // Windows: a batch commit writes the journal of its Adds (a delta); a
  // window emission, or deltas grown past the snapshot, write a whole
  // snapshot that replaces the deltas. Recovery replays the deltas on the
  // snapshot.
  std::string snapshot, journal;
  bool full = false;
  ProcessorIntent intent;
  intent.commit = next.commit;
  for (const PendingFile& f : *files) intent.keys.push_back(f.key);
  if (aggregator_) {
    journal = aggregator_->TakeJournal();
    full = seqs.empty() || state_.snapshot.empty() || state_.deltas.size() >= kMaxDeltas ||
           lake_delta_bytes_ + journal.size() >
               std::max<uint64_t>(lake_snapshot_bytes_, kMinSnapshotBytesForDeltas);
    if (full) {
      snapshot = aggregator_->Snapshot();
      next.snapshot = ProcessorSnapshotKey(config_.StateName(), next.commit);
      next.deltas.clear();
      intent.keys.push_back(next.snapshot);
    } else {
      next.deltas.push_back(ProcessorDeltaKey(config_.StateName(), next.commit));
      intent.keys.push_back(next.deltas.back());
    }
  }
  INLET_RETURN_IF_ERROR(lake_->PutBytes(ProcessorIntentKey(config_.StateName()),
                                        EncodeProcessorIntent(config_.StateName(), intent)));
  for (PendingFile& f : *files) {
    std::string staged = std::move(f.staged);
    f.staged.clear();
    INLET_RETURN_IF_ERROR(lake_->PutFile(f.key, staged));
    s.files->Inc();
  }
  if (aggregator_) {
    INLET_RETURN_IF_ERROR(full ? lake_->PutBytes(next.snapshot, snapshot)
                               : lake_->PutBytes(next.deltas.back(), journal));
  }
  Status st = lake_->PutBytes(ProcessorStateKey(config_.StateName()),
                              EncodeProcessorState(config_.StateName(), next));
  if (!st.ok()) {
    // The outcome is uncertain only if the object was replaced anyway.
    auto back = lake_->Get(ProcessorStateKey(config_.StateName()));
    auto decoded = back.ok() ? DecodeProcessorState(*back) : Result<ProcessorState>(back.status());
    if (!decoded.ok() || decoded->commit != next.commit) return st;
  }
  if (aggregator_ && full) {
    // The previous snapshot and its deltas are superseded.
    std::vector<std::string> old = state_.deltas;
    if (!state_.snapshot.empty() && state_.snapshot != next.snapshot)
      old.push_back(state_.snapshot);
    for (const std::string& key : old) {
      Status del = lake_->Delete(key);
      if (!del.ok()) spdlog::warn("processor {}: {}", config_.name, del.ToString());
    }
    lake_snapshot_bytes_ = snapshot.size();
    lake_delta_bytes_ = 0;
    committed_snapshot_ = std::move(snapshot);
    committed_journals_.clear();
  } else if (aggregator_) {
    lake_delta_bytes_ += journal.size();
    committed_journals_.push_back(std::move(journal));
  }
  state_ = std::move(next);
  return Status::Ok();
}

// Undoes an unfinished commit: deletes its staged files and the objects it
// may have written, and restores the windows of the last commit.
Status EventProcessor::CommitUnlessFenced(std::vector<PendingFile>* files,
                                          std::span<const uint64_t> seqs, bool* fenced) {
  if (config_.may_commit && !config_.may_commit()) {
    *fenced = true;
    return Status::Unavailable("processor " + config_.StateName() +
                               ": not committing: the partition's lease may have passed on");
  }
  return Commit(files, seqs);
}

void EventProcessor::Rollback(std::vector<PendingFile>* files, uint64_t commit, bool in_lake) {
  for (const PendingFile& f : *files) {
    std::error_code ec;
    if (!f.staged.empty()) std::filesystem::remove(f.staged, ec);
    if (!in_lake) continue;
    Status st = lake_->Delete(f.key);
    if (!st.ok()) spdlog::warn("processor {}: rollback: {}", config_.name, st.ToString());
  }
  files->clear();
  if (aggregator_) {
    if (in_lake) {
      (void)lake_->Delete(ProcessorSnapshotKey(config_.StateName(), commit));
      (void)lake_->Delete(ProcessorDeltaKey(config_.StateName(), commit));
    }
    Status st = aggregator_->Restore(committed_snapshot_);
    for (const std::string& j : committed_journals_) {
      if (st.ok()) st = aggregator_->ApplyJournal(j);
    }
    if (!st.ok()) spdlog::error("processor {}: rollback: {}", config_.name, st.ToString());
  }
}

Status EventProcessor::Recover() {
  const std::string state_key = ProcessorStateKey(config_.StateName());
  auto text = lake_->Get(state_key);
  if (text.ok()) {
    auto st = DecodeProcessorState(*text);
    if (!st.ok()) return Status(st.status().code(), state_key + ": " + st.status().message());
    state_ = std::move(*st);
    if (aggregator_ && !state_.snapshot.empty()) {
      auto snap = lake_->Get(state_.snapshot);
      if (!snap.ok())
        return Status(snap.status().code(), state_.snapshot + ": " + snap.status().message());
      Status r = aggregator_->Restore(*snap);
      if (!r.ok()) return Status(r.code(), state_.snapshot + ": " + r.message());
      lake_snapshot_bytes_ = snap->size();
      for (const std::string& key : state_.deltas) {
        auto delta = lake_->Get(key);
        if (!delta.ok())
          return Status(delta.status().code(), key + ": " + delta.status().message());
        r = aggregator_->ApplyJournal(*delta);
        if (!r.ok()) return Status(r.code(), key + ": " + r.message());
        lake_delta_bytes_ += delta->size();
      }
    }
  } else if (text.status().code() != StatusCode::kNotFound) {
    return text.status();
  }
  if (aggregator_) committed_snapshot_ = aggregator_->Snapshot();
  // An intent newer than the state is a commit that never happened: delete
  // whatever it wrote; its messages were not acked and come again.
  const std::string intent_key = ProcessorIntentKey(config_.StateName());
  auto intent_text = lake_->Get(intent_key);
  if (intent_text.ok()) {
    auto intent = DecodeProcessorIntent(*intent_text);
    if (!intent.ok())
      return Status(intent.status().code(), intent_key + ": " + intent.status().message());
    if (intent->commit > state_.commit) {
      for (const std::string& key : intent->keys) INLET_RETURN_IF_ERROR(lake_->Delete(key));
      spdlog::info("processor {}: rolled back unfinished commit {} ({} objects)", config_.name,
                   intent->commit, intent->keys.size());
    }
    INLET_RETURN_IF_ERROR(lake_->Delete(intent_key));
  } else if (intent_text.status().code() != StatusCode::kNotFound) {
    return intent_text.status();
  }
  // Snapshots left by a crash between a commit and the deletion of the
  // previous snapshot.
  const std::string prefix = "_state/processor-" + config_.StateName() + "-";
  auto listed = lake_->List(prefix);
  if (listed.ok()) {
    for (const auto& obj : *listed) {
      std::string_view rest = std::string_view(obj.key).substr(prefix.size());
      size_t dot = rest.find(".windows");
      if (dot == std::string_view::npos || dot + 8 != rest.size()) {
        dot = rest.find(".delta");
        if (dot == std::string_view::npos || dot + 6 != rest.size()) continue;
      }
      if (dot == 0 || rest.substr(0, dot).find_first_not_of("0123456789") != std::string_view::npos)
        continue;
      if (obj.key != state_.snapshot &&
          std::find(state_.deltas.begin(), state_.deltas.end(), obj.key) == state_.deltas.end())
        (void)lake_->Delete(obj.key);
    }
  }
  if (state_.commit > 0) {
    spdlog::info("processor {}: recovered commit {} ({} processed ranges, {} open windows)",
                 config_.name, state_.commit, state_.processed.ranges().size(),
                 aggregator_ ? aggregator_->Stats().open_windows : 0);
  }
  return Status::Ok();
}

}  // namespace inlet::process
