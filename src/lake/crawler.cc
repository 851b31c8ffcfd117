#include "lake/crawler.h"

#include <duckdb.h>

#include <algorithm>
#include <map>
#include <set>

#include "lake/duckdb_types.h"
#include "schema/table_schema.h"

namespace inlet::lake {
namespace {

namespace fs = std::filesystem;
using schema::DataType;
using schema::TypeKind;

struct FileEntry {
  std::string rel_path;                                   // lake-relative
  std::string partition;                                  // lake-relative folder with '/'
  std::vector<std::pair<std::string, std::string>> keys;  // key=value folders below the prefix
  uint64_t size = 0;
};

int NumericRank(TypeKind k) {
  switch (k) {
    case TypeKind::kInt:
      return 1;
    case TypeKind::kBigint:
      return 2;
    case TypeKind::kDouble:
      return 3;
    default:
      return 0;
  }
}

std::shared_ptr<const DataType> Widen(const DataType& a, const DataType& b);

std::shared_ptr<const DataType> Widen(const DataType& a, const DataType& b) {
  auto make = [](DataType t) { return std::make_shared<const DataType>(std::move(t)); };
  if (a.kind == b.kind) {
    switch (a.kind) {
      case TypeKind::kDecimal: {
        if (a.precision == b.precision && a.scale == b.scale) return make(a);
        int scale = std::max(a.scale, b.scale);
        int integer = std::max(a.precision - a.scale, b.precision - b.scale);
        if (integer + scale > 38) return nullptr;
        DataType t = a;
        t.precision = integer + scale;
        t.scale = scale;
        return make(t);
      }
      case TypeKind::kArray: {
        auto e = Widen(*a.element, *b.element);
        if (!e) return nullptr;
        DataType t = a;
        t.element = e;
        return make(t);
      }
      case TypeKind::kMap: {
        auto k = Widen(*a.key, *b.key);
        auto v = Widen(*a.value, *b.value);
        if (!k || !v) return nullptr;
        DataType t = a;
        t.key = k;
        t.value = v;
        return make(t);
      }
      case TypeKind::kStruct: {
        DataType t = a;
        for (const auto& f : b.fields) {
          auto it = std::find_if(t.fields.begin(), t.fields.end(),
                                 [&](const auto& x) { return x.name == f.name; });
          if (it == t.fields.end()) {
            t.fields.push_back(f);
            continue;
          }
          auto w = Widen(*it->type, *f.type);
          if (!w) return nullptr;
          it->type = w;
        }
        return make(t);
      }
      default:
        return make(a);
    }
  }
  int ra = NumericRank(a.kind), rb = NumericRank(b.kind);
  if (ra && rb) return make(ra > rb ? a : b);
  if ((a.kind == TypeKind::kDate && b.kind == TypeKind::kTimestamp) ||
      (a.kind == TypeKind::kTimestamp && b.kind == TypeKind::kDate)) {
    DataType t;
    t.kind = TypeKind::kTimestamp;
    return make(t);
  }
  return nullptr;
}

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() + 0 &&
        std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && s.size() < 18 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

std::optional<std::string> WidenedType(const std::string& a, const std::string& b) {
  auto ta = schema::ParseType(a), tb = schema::ParseType(b);
  if (!ta.ok() || !tb.ok()) return a == b ? std::optional<std::string>(a) : std::nullopt;
  auto w = Widen(*ta.value(), *tb.value());
  if (!w) return std::nullopt;
  return w->ToString();
}

std::string CrawlReport::Summary() const {
  std::string out = "table " + table + " at " + location + (created ? " (created)" : "") + "\n";
  out += "  files: " + std::to_string(files_found) + " found, " + std::to_string(files_read) +
         " read (" + std::to_string(rows) + " rows, " + std::to_string(bytes) + " bytes)\n";
  out += "  partitions: " + std::to_string(partitions_found) + " found, " +
         std::to_string(partitions_new) + " new, " + std::to_string(partitions_gone) + " gone\n";
  out += "  schema version: " + std::to_string(schema_version) + "\n";
  auto list = [&](const char* title, const std::vector<std::string>& v) {
    if (v.empty()) return;
    out += std::string("  ") + title + ":\n";
    for (const auto& s : v) out += "    " + s + "\n";
  };
  list("changed in the catalog", applied);
  list("seen but not applied (policy: log)", logged);
  list("INCOMPATIBLE, not applied", incompatible);
  if (applied.empty() && logged.empty() && incompatible.empty()) out += "  no schema change\n";
  return out;
}

CrawlOptions CrawlOptionsOf(const CrawlerConfig& config) {
  CrawlOptions o;
  o.table = config.table;
  o.prefix = config.prefix;
  o.crawler = config.name;
  o.recrawl = config.recrawl;
  o.update_behavior = config.update_behavior;
  o.delete_behavior = config.delete_behavior;
  return o;
}

Crawler::Crawler(Catalog* catalog, fs::path lake_dir)
    : catalog_(catalog), lake_dir_(std::move(lake_dir)) {}

Result<CrawlReport> Crawler::Crawl(const CrawlOptions& options) {
  auto qn = SplitQualifiedName(options.table);
  if (!qn.ok()) return qn.status();
  const auto& [db, name] = qn.value();
  auto existing = catalog_->GetTable(db, name);
  if (!existing.ok() && existing.status().code() != StatusCode::kNotFound) return existing.status();
  bool exists = existing.ok();

  std::string prefix = options.prefix;
  if (prefix.empty()) prefix = exists ? existing->location : db + "/" + name + "/";
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  fs::path rel = fs::path(prefix).lexically_normal();
  if (rel.empty() || rel.is_absolute() || *rel.begin() == "..") {
    return Status::InvalidArgument("prefix '" + options.prefix +
                                   "' must be a folder inside the lake");
  }
  CrawlReport report;
  report.table = options.table;
  report.location = prefix;

  // 1. Files and partitions.
  std::vector<FileEntry> files;
  fs::path root = lake_dir_ / prefix;
  // A prefix that does not exist yet (nothing written there so far) holds
  // no files, as an empty one: not an error.
  std::error_code ec;
  const bool is_dir = fs::is_directory(root, ec);
  if (ec == std::errc::no_such_file_or_directory) ec.clear();
  if (is_dir) {
    for (fs::recursive_directory_iterator
             it(root, fs::directory_options::skip_permission_denied, ec),
         end;
         !ec && it != end; it.increment(ec)) {
      const fs::path& p = it->path();
      if (!it->is_regular_file(ec) || p.extension() != ".parquet" ||
          p.filename().string()[0] == '.')
        continue;
      FileEntry f;
      f.rel_path = p.lexically_relative(lake_dir_).string();
      f.partition = p.parent_path().lexically_relative(lake_dir_).string() + "/";
      f.size = it->file_size(ec);
      for (const auto& seg : p.parent_path().lexically_relative(root)) {
        std::string s = seg.string();
        size_t eq = s.find('=');
        if (eq != std::string::npos && eq > 0)
          f.keys.emplace_back(s.substr(0, eq), PercentDecode(s.substr(eq + 1)));
      }
      files.push_back(std::move(f));
    }
  }
  if (ec) return Status::IoError("cannot list " + root.string() + ": " + ec.message());
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.rel_path < b.rel_path; });
  report.files_found = files.size();

  std::vector<PartitionInfo> known;
  if (exists) {
    auto parts = catalog_->Partitions(db, name);
    if (!parts.ok()) return parts.status();
    known = std::move(parts).value();
  }
  std::set<std::string> known_paths;
  for (const auto& p : known) known_paths.insert(p.path);

  std::map<std::string, PartitionInfo> partitions;
  std::vector<std::string> key_names;
  std::map<std::string, bool> key_numeric;
  for (const auto& f : files) {
    auto& p = partitions[f.partition];
    p.path = f.partition;
    p.files++;
    p.bytes += f.size;
    p.values.clear();
    std::vector<std::string> names;
    for (const auto& [k, v] : f.keys) {
      names.push_back(k);
      p.values.push_back(v);
      auto it = key_numeric.find(k);
      bool num = AllDigits(v);
      key_numeric[k] = it == key_numeric.end() ? num : (it->second && num);
    }
    if (key_names.empty() && !names.empty()) key_names = names;
    if (names != key_names) {
      report.incompatible.push_back("partition folders differ: " + f.partition + " has keys [" +
                                    Join(names, ", ") + "], others [" + Join(key_names, ", ") +
                                    "]");
    }
  }
  report.partitions_found = partitions.size();
  for (const auto& [path, p] : partitions) report.partitions_new += known_paths.count(path) ? 0 : 1;

  // 2. Footers.
  std::vector<const FileEntry*> to_read;
  for (const auto& f : files) {
    if (options.recrawl == RecrawlPolicy::kNewFoldersOnly && known_paths.count(f.partition))
      continue;
    to_read.push_back(&f);
  }
  duckdb_database ddb = nullptr;
  duckdb_connection conn = nullptr;
  duckdb_config cfg;
  duckdb_create_config(&cfg);
  duckdb_set_config(cfg, "autoload_known_extensions", "false");
  duckdb_set_config(cfg, "autoinstall_known_extensions", "false");
  duckdb_set_config(cfg, "threads", "1");
  char* err = nullptr;
  duckdb_state opened = duckdb_open_ext(nullptr, &ddb, cfg, &err);
  duckdb_destroy_config(&cfg);
  if (opened == DuckDBError) {
    std::string m = err ? err : "";
    duckdb_free(err);
    return Status::Internal("duckdb: " + m);
  }
  duckdb_connect(ddb, &conn);
  struct Closer {
    duckdb_database* d;
    duckdb_connection* c;
    ~Closer() {
      duckdb_disconnect(c);
      duckdb_close(d);
    }
  } closer{&ddb, &conn};

  std::vector<ColumnInfo> inferred;               // merged over the files, in order of first sight
  std::map<std::string, std::string> first_seen;  // column -> file that gave its current type
  for (size_t i = 0; i < to_read.size(); ++i) {
    const FileEntry& f = *to_read[i];
    std::string path = QuoteLiteral((lake_dir_ / f.rel_path).string());
    DuckResult r;
    Status st = RunSql(
        conn, "SELECT * FROM read_parquet(" + path + ", hive_partitioning = false) LIMIT 0", &r);
    if (!st.ok()) {
      report.incompatible.push_back("unreadable file " + f.rel_path + ": " + st.message());
      continue;
    }
    idx_t n = duckdb_column_count(r.get());
    for (idx_t c = 0; c < n; ++c) {
      std::string col = duckdb_column_name(r.get(), c);
      duckdb_logical_type lt = duckdb_column_logical_type(r.get(), c);
      std::string type = GlueTypeOf(lt);
      duckdb_destroy_logical_type(&lt);
      auto it = std::find_if(inferred.begin(), inferred.end(),
                             [&](const auto& x) { return x.name == col; });
      if (it == inferred.end()) {
        inferred.push_back({col, type, false, "", false});
        first_seen[col] = f.rel_path;
      } else if (it->type != type) {
        auto w = WidenedType(it->type, type);
        if (w) {
          if (*w != it->type) first_seen[col] = f.rel_path;
          it->type = *w;
        } else {
          report.incompatible.push_back("column " + col + ": " + it->type + " in " +
                                        first_seen[col] + " but " + type + " in " + f.rel_path);
        }
      }
    }
    DuckResult meta;
    if (RunSql(conn, "SELECT num_rows FROM parquet_file_metadata(" + path + ")", &meta).ok() &&
        meta.rows() > 0) {
      uint64_t rows = static_cast<uint64_t>(meta.Int(0, 0));
      report.rows += rows;
      partitions[f.partition].rows += rows;
    }
    report.bytes += f.size;
    report.files_read++;
    if (options.progress) options.progress(i + 1, to_read.size());
  }
  // Hive partition keys are folders, not file columns.
  std::vector<ColumnInfo> inferred_keys;
  for (const auto& k : key_names) {
    inferred_keys.push_back({k, key_numeric[k] ? "bigint" : "string", false, "", false});
    inferred.erase(std::remove_if(inferred.begin(), inferred.end(),
                                  [&](const auto& c) { return c.name == k; }),
                   inferred.end());
  }

  // 3. Differences with the catalog, by policy.
  TableInfo table;
  if (exists) {
    table = existing.value();
  } else {
    table.database = db;
    table.name = name;
    table.location = prefix;
    table.source = "crawler:" + options.crawler;
    table.columns = inferred;
    table.partition_keys = inferred_keys;
    report.created = !files.empty();
  }
  bool update = options.update_behavior == UpdateBehavior::kUpdateInCatalog;
  bool complete_view = options.recrawl == RecrawlPolicy::kEverything;
  if (exists && (report.files_read > 0)) {
    std::vector<ColumnInfo> next = table.columns;
    for (const auto& c : inferred) {
      auto it =
          std::find_if(next.begin(), next.end(), [&](const auto& x) { return x.name == c.name; });
      if (it == next.end()) {
        std::string what =
            "added column " + c.name + " " + c.type + " (first in " + first_seen[c.name] + ")";
        (update ? report.applied : report.logged).push_back(what);
        if (update) next.push_back(c);
        continue;
      }
      if (it->deprecated) {
        (update ? report.applied : report.logged)
            .push_back("column " + c.name + " is back in the files");
        if (update) it->deprecated = false;
      }
      if (it->type == c.type) continue;
      auto w = WidenedType(it->type, c.type);
      if (!w) {
        report.incompatible.push_back("column " + c.name + ": the catalog has " + it->type + ", " +
                                      first_seen[c.name] + " has " + c.type + " (not a widening)");
      } else if (*w != it->type) {
        std::string what = "column " + c.name + ": " + it->type + " -> " + *w + " (widened, in " +
                           first_seen[c.name] + ")";
        (update ? report.applied : report.logged).push_back(what);
        if (update) it->type = *w;
      }
    }
    if (complete_view && !files.empty()) {
      for (auto it = next.begin(); it != next.end();) {
        bool present = std::any_of(inferred.begin(), inferred.end(),
                                   [&](const auto& c) { return c.name == it->name; });
        if (present ||
            (it->deprecated && options.delete_behavior != DeleteBehavior::kDeleteFromCatalog)) {
          ++it;
          continue;
        }
        std::string col = "column " + it->name + " " + it->type + " is in no file any more";
        switch (options.delete_behavior) {
          case DeleteBehavior::kLog:
            report.logged.push_back(col);
            ++it;
            break;
          case DeleteBehavior::kDeleteFromCatalog:
            report.applied.push_back(col + ": deleted from the catalog");
            it = next.erase(it);
            break;
          case DeleteBehavior::kDeprecateInCatalog:
            report.applied.push_back(col + ": deprecated in the catalog");
            it->deprecated = true;
            ++it;
            break;
        }
      }
    }
    if (table.partition_keys.empty() && !inferred_keys.empty()) {
      (update ? report.applied : report.logged)
          .push_back("partition keys [" + Join(key_names, ", ") + "] found");
      if (update) table.partition_keys = inferred_keys;
    } else if (!inferred_keys.empty()) {
      std::vector<std::string> old_names;
      for (const auto& k : table.partition_keys) old_names.push_back(k.name);
      if (old_names != key_names) {
        report.incompatible.push_back("partition keys: the catalog has [" + Join(old_names, ", ") +
                                      "], the folders have [" + Join(key_names, ", ") + "]");
      }
    }
    table.columns = std::move(next);
  }

  // Partitions gone from the folders.
  std::vector<PartitionInfo> stored;
  for (const auto& p : known) {
    if (partitions.count(p.path)) continue;
    if (!complete_view) {
      stored.push_back(p);
      continue;
    }
    report.partitions_gone++;
    switch (options.delete_behavior) {
      case DeleteBehavior::kLog:
        report.logged.push_back("partition " + p.path + " has no file any more");
        stored.push_back(p);
        break;
      case DeleteBehavior::kDeleteFromCatalog:
        report.applied.push_back("partition " + p.path + ": deleted from the catalog");
        break;
      case DeleteBehavior::kDeprecateInCatalog: {
        report.applied.push_back("partition " + p.path + ": deprecated in the catalog");
        PartitionInfo d = p;
        d.deprecated = true;
        stored.push_back(d);
        break;
      }
    }
  }
  for (auto& [path, p] : partitions) {
    if (options.recrawl == RecrawlPolicy::kNewFoldersOnly && known_paths.count(path)) {
      const std::string& key = path;  // clang: lambdas cannot capture structured bindings
      auto it =
          std::find_if(known.begin(), known.end(), [&key](const auto& k) { return k.path == key; });
      p.rows = it->rows;
    }
    stored.push_back(p);
  }

  if (exists || report.created) {
    std::string change = Join(report.applied, "\n");
    auto put =
        catalog_->PutTable(table, "crawler:" + options.crawler, report.created ? "" : change);
    if (!put.ok()) return put.status();
    INLET_RETURN_IF_ERROR(catalog_->PutPartitions(db, name, stored));
    auto after = catalog_->GetTable(db, name);
    if (after.ok()) report.schema_version = after->schema_version;
  }
  return report;
}

}  // namespace inlet::lake
