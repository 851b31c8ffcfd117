#include "cli/lake_commands.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>

#include "cli/backends.h"
#include "delivery/delivery_stream_config.h"
#include "lake/ddl_export.h"
#include "lake/lake_mirror.h"
#include "lake/result_format.h"
#include "process/event_processor.h"

namespace inlet::cli {
namespace {

namespace fs = std::filesystem;
using lake::ColumnInfo;

int Fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "inlet: %s\n", message.c_str());
  return code;
}

std::string DefaultConfig() {
  const char* env = std::getenv("INLET_CONFIG");
  return env && *env ? env : "examples/inlet.yaml";
}

// The Hive keys of a prefix ("year=!{timestamp:yyyy}/os=!{partitionKeyFromQuery:os}/"):
// timestamp-only values are numbers, others strings.
std::vector<ColumnInfo> HiveKeys(const std::string& prefix) {
  std::vector<ColumnInfo> keys;
  size_t start = 0;
  while (start < prefix.size()) {
    size_t end = prefix.find('/', start);
    if (end == std::string::npos) end = prefix.size();
    std::string seg = prefix.substr(start, end - start);
    size_t eq = seg.find('=');
    if (eq != std::string::npos && eq > 0) {
      std::string value = seg.substr(eq + 1);
      bool numeric = value.rfind("!{timestamp:", 0) == 0 && value.back() == '}' &&
                     value.find('}') == value.size() - 1;
      keys.push_back({seg.substr(0, eq), numeric ? "bigint" : "string", false, "", false});
    }
    start = end + 1;
  }
  return keys;
}

// Error tables of a delivery error prefix "<lit>/!{firehose:error-output-type}/<rest>".
void AddErrorTables(const delivery::DeliveryStreamConfig& d, std::set<std::string>* seen,
                    std::vector<lake::TableRegistration>* out) {
  static const std::string kExpr = "!{firehose:error-output-type}/";
  size_t at = d.error_prefix.find(kExpr);
  if (at == std::string::npos || d.error_prefix.find("!{", 0) < at) return;
  std::string lit = d.error_prefix.substr(0, at), rest = d.error_prefix.substr(at + kExpr.size());
  for (const char* type : {"format-conversion-failed", "partitioning-failed"}) {
    std::string location = lit + type + "/";
    if (!seen->insert(location).second) continue;
    lake::TableRegistration r;
    r.schema.database = "errors";
    r.schema.name = type;
    for (auto& c : r.schema.name) c = c == '-' ? '_' : c;
    r.schema.description =
        std::string("Events delivery streams could not write (") + type + "), with the reason";
    r.location = location;
    r.compression = delivery::CompressionName(d.compression);
    r.extra_columns = {{"_seq", "bigint", true, "sequence id in the topic", false},
                       {"_arrival_time", "timestamp", true, "arrival at ingest", false},
                       {"stream", "string", true, "the delivery stream", false},
                       {"error_output_type", "string", true, "", false},
                       {"error_code", "string", true, "", false},
                       {"error_message", "string", true, "", false},
                       {"error_path", "string", false, "JSON path of the offending value", false},
                       {"raw_payload", "string", true, "the event as received", false}};
    r.partition_keys = HiveKeys(rest);
    out->push_back(std::move(r));
  }
}

std::string LakeRoot(const config::Config& cfg) {
  return "file://" + fs::absolute(cfg.storage.lake_dir).lexically_normal().string();
}

struct Opened {
  config::Config config;
  std::unique_ptr<lake::LakeService> service;
};

// Loads the configuration and opens the lake; prints the problem and sets *code on failure.
std::unique_ptr<Opened> OpenLake(const std::string& config_path, int* code,
                                 lake::EngineOptions engine = {}) {
  auto cfg = config::LoadConfig(config_path);
  if (!cfg.ok()) {
    *code = Fail("invalid configuration:\n" + cfg.status().message(), 2);
    return nullptr;
  }
  auto opened = std::make_unique<Opened>();
  opened->config = std::move(cfg).value();
  if (opened->config.storage.s3.enabled) {
    // The lake is in S3: refresh the local copy of its data files first.
    auto store = cli::OpenLake(opened->config);
    if (!store.ok()) {
      *code = Fail("cannot open the lake: " + store.status().message());
      return nullptr;
    }
    lake::LakeMirror mirror(store->get(), opened->config.storage.lake_dir);
    auto synced = mirror.SyncOnce();
    if (!synced.ok()) {
      *code = Fail("cannot copy the lake from " + (*store)->Describe() + ": " +
                   synced.status().message());
      return nullptr;
    }
  }
  auto service = lake::LakeService::Open(opened->config.lake, opened->config.storage.lake_dir,
                                         LakeTablesFromConfig(opened->config), std::move(engine));
  if (!service.ok()) {
    *code = Fail("cannot open the lake: " + service.status().message());
    return nullptr;
  }
  opened->service = std::move(service).value();
  return opened;
}

void AddConfigOption(CLI::App* cmd, std::string* path) {
  cmd->add_option("--config", *path,
                  "Configuration file (default: $INLET_CONFIG or examples/inlet.yaml)");
}

int QueryCommand(const std::string& config_path, const std::string& sql,
                 const std::string& format_text, const std::string& output, uint64_t max_rows) {
  auto format = lake::ParseOutputFormat(format_text);
  if (!format.ok()) return Fail(format.status().message(), 2);
  if (format.value() == lake::OutputFormat::kParquet && output.empty()) {
    return Fail("--format parquet needs --output FILE", 2);
  }
  lake::EngineOptions engine;
  if (format.value() == lake::OutputFormat::kParquet) engine.output_files.push_back(output);
  int code = 0;
  auto lake = OpenLake(config_path, &code, engine);
  if (!lake) return code;
  if (format.value() == lake::OutputFormat::kParquet) {
    Status st = lake->service->engine()->ExportParquet(sql, output);
    if (!st.ok()) return Fail(st.message());
    std::fprintf(stderr, "wrote %s\n", output.c_str());
    return 0;
  }
  uint64_t rows = max_rows ? max_rows : lake->config.lake.query.max_rows;
  auto result = lake->service->engine()->Query(sql, rows);
  if (!result.ok()) return Fail(result.status().message());
  std::string text;
  switch (format.value()) {
    case lake::OutputFormat::kTable:
      text = lake::FormatTable(result.value(), isatty(STDOUT_FILENO) ? 60 : 0);
      break;
    case lake::OutputFormat::kCsv:
      text = lake::FormatCsv(result.value());
      break;
    case lake::OutputFormat::kJson:
      text = lake::FormatJson(result.value()) + "\n";
      break;
    case lake::OutputFormat::kNdjson:
      text = lake::FormatNdjson(result.value());
      break;
    case lake::OutputFormat::kParquet:
      break;
  }
  if (!output.empty()) {
    std::ofstream out(output, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) return Fail("cannot write " + output);
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  if (result->truncated && format.value() != lake::OutputFormat::kTable) {
    std::fprintf(stderr, "inlet: result truncated to %zu rows (--max-rows)\n", result->rows.size());
  }
  return 0;
}

struct CrawlArgs {
  std::string table, prefix, crawler, update, del, recrawl;
};

int CrawlCommand(const std::string& config_path, const CrawlArgs& args) {
  int code = 0;
  auto lake = OpenLake(config_path, &code);
  if (!lake) return code;
  lake::CrawlOptions options;
  if (!args.crawler.empty()) {
    auto it = std::find_if(lake->config.lake.crawlers.begin(), lake->config.lake.crawlers.end(),
                           [&](const auto& c) { return c.name == args.crawler; });
    if (it == lake->config.lake.crawlers.end())
      return Fail("no crawler '" + args.crawler + "' in the configuration", 2);
    options = lake::CrawlOptionsOf(*it);
  } else if (args.table.empty()) {
    return Fail("name the table (--table db.name) or a configured crawler (--crawler NAME)", 2);
  }
  if (!args.table.empty()) options.table = args.table;
  if (!args.prefix.empty()) options.prefix = args.prefix;
  if (args.update == "log") options.update_behavior = lake::UpdateBehavior::kLog;
  if (args.update == "update_in_catalog")
    options.update_behavior = lake::UpdateBehavior::kUpdateInCatalog;
  if (args.del == "log") options.delete_behavior = lake::DeleteBehavior::kLog;
  if (args.del == "delete_from_catalog")
    options.delete_behavior = lake::DeleteBehavior::kDeleteFromCatalog;
  if (args.del == "deprecate_in_catalog")
    options.delete_behavior = lake::DeleteBehavior::kDeprecateInCatalog;
  if (args.recrawl == "everything") options.recrawl = lake::RecrawlPolicy::kEverything;
  if (args.recrawl == "new_folders_only") options.recrawl = lake::RecrawlPolicy::kNewFoldersOnly;
  bool tty = isatty(STDOUT_FILENO);
  if (tty) {
    options.progress = [](size_t done, size_t total) {
      constexpr int kWidth = 30;
      int filled = total ? static_cast<int>(kWidth * done / total) : kWidth;
      std::printf("\r[%s%s] %zu/%zu files", std::string(filled, '#').c_str(),
                  std::string(kWidth - filled, ' ').c_str(), done, total);
      std::fflush(stdout);
    };
  }
  auto report = lake->service->Crawl(options);
  if (tty) std::printf("\r%60s\r", "");
  if (!report.ok()) return Fail(report.status().message());
  std::printf("%s", report->Summary().c_str());
  return report->incompatible.empty() ? 0 : 3;
}

int CatalogList(const std::string& config_path, const std::string& database) {
  int code = 0;
  auto lake = OpenLake(config_path, &code);
  if (!lake) return code;
  auto dbs = lake->service->catalog()->ListDatabases();
  if (!dbs.ok()) return Fail(dbs.status().message());
  for (const auto& d : dbs.value()) {
    if (!database.empty() && d.name != database) continue;
    std::printf("%s (%llu tables)\n", d.name.c_str(), static_cast<unsigned long long>(d.tables));
    auto tables = lake->service->catalog()->ListTables(d.name);
    if (!tables.ok()) return Fail(tables.status().message());
    for (const auto& t : tables.value()) {
      std::printf("  %-32s %3zu columns  v%-3lld %s%s\n", t.QualifiedName().c_str(),
                  t.columns.size(), static_cast<long long>(t.schema_version), t.location.c_str(),
                  t.deprecated ? "  (deprecated)" : "");
    }
  }
  return 0;
}

int CatalogShow(const std::string& config_path, const std::string& table) {
  auto qn = lake::SplitQualifiedName(table);
  if (!qn.ok()) return Fail(qn.status().message(), 2);
  int code = 0;
  auto lake = OpenLake(config_path, &code);
  if (!lake) return code;
  auto t = lake->service->catalog()->GetTable(qn->first, qn->second);
  if (!t.ok()) return Fail(t.status().message());
  std::printf(
      "table       %s\nlocation    %s\nformat      %s (%s)\nsource      %s\nversion     %lld "
      "(%s)\n",
      t->QualifiedName().c_str(), t->location.c_str(), t->format.c_str(), t->compression.c_str(),
      t->source.c_str(), static_cast<long long>(t->schema_version), t->updated_at.c_str());
  if (!t->description.empty()) std::printf("description %s\n", t->description.c_str());
  std::printf("columns:\n");
  for (const auto& c : t->columns) {
    std::printf("  %-20s %-40s%s%s\n", c.name.c_str(), c.type.c_str(),
                c.required ? " required" : "", c.deprecated ? " (deprecated)" : "");
  }
  if (!t->partition_keys.empty()) {
    std::printf("partition keys:\n");
    for (const auto& c : t->partition_keys)
      std::printf("  %-20s %s\n", c.name.c_str(), c.type.c_str());
  }
  auto parts = lake->service->catalog()->Partitions(qn->first, qn->second);
  if (parts.ok() && !parts->empty()) {
    std::printf("partitions (%zu, from the last crawl):\n", parts->size());
    for (const auto& p : parts.value()) {
      std::printf("  %-50s %4llu files %10llu rows%s\n", p.path.c_str(),
                  static_cast<unsigned long long>(p.files), static_cast<unsigned long long>(p.rows),
                  p.deprecated ? " (deprecated)" : "");
    }
  }
  return 0;
}

int CatalogHistory(const std::string& config_path, const std::string& table) {
  auto qn = lake::SplitQualifiedName(table);
  if (!qn.ok()) return Fail(qn.status().message(), 2);
  int code = 0;
  auto lake = OpenLake(config_path, &code);
  if (!lake) return code;
  auto h = lake->service->catalog()->History(qn->first, qn->second);
  if (!h.ok()) return Fail(h.status().message());
  for (const auto& v : h.value()) {
    std::printf("v%lld  %s  by %s\n", static_cast<long long>(v.version), v.changed_at.c_str(),
                v.changed_by.c_str());
    size_t start = 0;
    while (start <= v.change.size() && !v.change.empty()) {
      size_t end = v.change.find('\n', start);
      if (end == std::string::npos) end = v.change.size();
      std::printf("    %s\n", v.change.substr(start, end - start).c_str());
      start = end + 1;
    }
  }
  return 0;
}

int CatalogDdl(const std::string& config_path, const std::string& dialect_text,
               const std::string& location) {
  auto dialect = lake::ParseDdlDialect(dialect_text);
  if (!dialect.ok()) return Fail(dialect.status().message(), 2);
  int code = 0;
  auto lake = OpenLake(config_path, &code);
  if (!lake) return code;
  auto tables = lake->service->catalog()->ListTables();
  if (!tables.ok()) return Fail(tables.status().message());
  std::string ddl = lake::ExportDdl(tables.value(), dialect.value(),
                                    location.empty() ? LakeRoot(lake->config) : location);
  std::fwrite(ddl.data(), 1, ddl.size(), stdout);
  return 0;
}

}  // namespace

std::vector<lake::TableRegistration> LakeTablesFromConfig(const config::Config& config) {
  std::vector<lake::TableRegistration> out;
  std::set<std::string> registered, error_locations;
  for (const auto& d : config.delivery_streams) {
    if (d.table.name.empty()) continue;
    std::string qn = d.table.QualifiedName();
    if (registered.insert(qn).second) {
      lake::TableRegistration r;
      r.schema = d.table;
      r.location = delivery::EffectiveLocation(d);
      r.compression = delivery::CompressionName(d.compression);
      if (d.keep_unknown_fields)
        r.extra_columns.push_back(
            {"_extra", "string", false, "fields not in the table (JSON)", false});
      r.extra_columns.push_back({"_seq", "bigint", true, "sequence id in the topic", false});
      r.extra_columns.push_back({"_arrival_time", "timestamp", true, "arrival at ingest", false});
      r.extra_columns.push_back(
          {"_time_source", "string", true, "event or arrival: the partition time used", false});
      r.partition_keys = HiveKeys(d.prefix);
      out.push_back(std::move(r));
    }
    AddErrorTables(d, &error_locations, &out);
  }
  // Tables written by processors (curated.events is found by a crawler:
  // its columns follow the processor's mapping).
  for (const auto& p : config.process.processors) {
    if (p.aggregate.enabled && registered.insert("curated.poi_presence").second) {
      lake::TableRegistration r;
      r.schema = process::PoiPresenceSchema();
      r.location = p.aggregate.location;
      r.compression = "zstd";
      r.partition_keys = HiveKeys(delivery::kDefaultPrefix);
      out.push_back(std::move(r));
    }
    if (registered.insert("errors.rejected").second) {
      lake::TableRegistration r;
      r.schema = process::RejectedEventsSchema();
      r.location = p.errors_location;
      r.compression = "zstd";
      out.push_back(std::move(r));
    }
  }
  for (const auto& [qn, schema] : config.tables) {
    if (!registered.insert(qn).second) continue;
    lake::TableRegistration r;
    r.schema = schema;
    out.push_back(std::move(r));
  }
  return out;
}

void AddLakeCommands(CLI::App& app, int& exit_code) {
  struct State {
    std::string config = DefaultConfig();
    std::string sql, format = "table", output, table, database, dialect = "athena", location;
    uint64_t max_rows = 0;
    CrawlArgs crawl;
  };
  auto st = std::make_shared<State>();

  auto* query = app.add_subcommand(
      "query", "Run one SQL query (SELECT) over the lake's tables (raw.events, ...)");
  AddConfigOption(query, &st->config);
  query->add_option("sql", st->sql, "The query, e.g. \"SELECT count(*) FROM raw.events\"")
      ->required();
  query->add_option("--format", st->format, "table, csv, json, ndjson or parquet")
      ->capture_default_str();
  query->add_option("--output", st->output, "Write to this file (required for parquet)");
  query->add_option("--max-rows", st->max_rows, "Rows to return at most (default: query.max_rows)");
  query->callback([st, &exit_code] {
    exit_code = QueryCommand(st->config, st->sql, st->format, st->output, st->max_rows);
  });

  auto* crawl =
      app.add_subcommand("crawl", "Infer a table's schema and partitions from its Parquet files");
  AddConfigOption(crawl, &st->config);
  crawl->add_option("--table", st->crawl.table, "Catalog table to maintain, like raw.events");
  crawl->add_option("--prefix", st->crawl.prefix,
                    "Folder of the lake to read (default: the table's location)");
  crawl->add_option("--crawler", st->crawl.crawler, "Run this crawler of the configuration");
  crawl->add_option("--update-behavior", st->crawl.update, "log or update_in_catalog")
      ->check(CLI::IsMember({"log", "update_in_catalog"}));
  crawl
      ->add_option("--delete-behavior", st->crawl.del,
                   "log, delete_from_catalog or deprecate_in_catalog")
      ->check(CLI::IsMember({"log", "delete_from_catalog", "deprecate_in_catalog"}));
  crawl->add_option("--recrawl", st->crawl.recrawl, "everything or new_folders_only")
      ->check(CLI::IsMember({"everything", "new_folders_only"}));
  crawl->callback([st, &exit_code] { exit_code = CrawlCommand(st->config, st->crawl); });

  auto* catalog =
      app.add_subcommand("catalog", "Databases, tables, schema history and DDL of the lake");
  catalog->require_subcommand(1);
  auto* list = catalog->add_subcommand("list", "List databases and their tables");
  AddConfigOption(list, &st->config);
  list->add_option("--database", st->database, "Only this database");
  list->callback([st, &exit_code] { exit_code = CatalogList(st->config, st->database); });
  auto* show = catalog->add_subcommand(
      "show", "Show one table: location, columns, partition keys, partitions");
  AddConfigOption(show, &st->config);
  show->add_option("table", st->table, "db.table")->required();
  show->callback([st, &exit_code] { exit_code = CatalogShow(st->config, st->table); });
  auto* history =
      catalog->add_subcommand("history", "Schema versions of a table: who changed what, when");
  AddConfigOption(history, &st->config);
  history->add_option("table", st->table, "db.table")->required();
  history->callback([st, &exit_code] { exit_code = CatalogHistory(st->config, st->table); });
  auto* ddl =
      catalog->add_subcommand("ddl", "CREATE EXTERNAL TABLE statements for Athena, Trino or Hive");
  AddConfigOption(ddl, &st->config);
  ddl->add_option("--dialect", st->dialect, "athena, trino or hive")->capture_default_str();
  ddl->add_option(
      "--location", st->location,
      "Root of the lake for the engine (default file://<lake>), e.g. s3://bucket/lake/");
  ddl->callback(
      [st, &exit_code] { exit_code = CatalogDdl(st->config, st->dialect, st->location); });
}

}  // namespace inlet::cli
