// QueryEngine: SQL over the lake by catalog name (the Athena of inlet),
// through an embedded in-memory DuckDB. Each catalog database is a DuckDB
// schema and each table a view over read_parquet(<location>/**/*.parquet,
// hive_partitioning, union_by_name), or an empty typed view while the table
// has no file. The surface is read-only and confined to the lake: only one
// SELECT (or EXPLAIN of one) per request; DuckDB's external access is off
// except for the lake folder; extensions cannot be installed or loaded; the
// configuration is locked. Limits: time-out (interrupted by a watchdog),
// rows returned, memory, concurrent queries. Thread-safe; the catalog must
// outlive the engine.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "lake/catalog.h"
#include "lake/lake_config.h"

namespace inlet::lake {

// One value of a result. `text` is the number, the string, or the JSON text
// of a nested value (struct, list, map), as `kind` says.
enum class CellKind { kNull, kBool, kInt, kDouble, kString, kJson };
struct Cell {
  CellKind kind = CellKind::kNull;
  std::string text;
};

struct ResultColumn {
  std::string name;
  std::string type;  // DuckDB SQL type: BIGINT, VARCHAR, STRUCT(a INTEGER)...
};

struct QueryResult {
  std::vector<ResultColumn> columns;
  std::vector<std::vector<Cell>> rows;
  bool truncated = false;      // more rows than max_rows existed
  uint64_t bytes_scanned = 0;  // bytes read from files (DuckDB's profiler)
  double elapsed_ms = 0;
};

struct EngineOptions {
  // Files outside the lake the engine may write (the CLI's --output), only
  // through ExportParquet.
  std::vector<std::filesystem::path> output_files;
};

class QueryEngine {
 public:
  // `lake_dir` must exist. Views are created for every catalog table.
  static Result<std::unique_ptr<QueryEngine>> Open(const QueryConfig& config,
                                                   const std::filesystem::path& lake_dir,
                                                   Catalog* catalog, EngineOptions options = {});
  ~QueryEngine();
  QueryEngine(const QueryEngine&) = delete;
  QueryEngine& operator=(const QueryEngine&) = delete;

  // Runs one read-only statement. `max_rows` 0 means the configured default;
  // it is capped by the configured max_rows. Errors: kInvalidArgument (SQL
  // error), kPermissionDenied (not read-only, or outside the lake),
  // kResourceExhausted (too many concurrent queries), kTimeout, kTooLarge
  // (memory limit), kUnavailable (engine closed).
  Result<QueryResult> Query(const std::string& sql, uint64_t max_rows = 0);

  // Writes the full result of one read-only statement to `output` (one of
  // EngineOptions::output_files) as Parquet. Same checks and limits as Query.
  Status ExportParquet(const std::string& sql, const std::filesystem::path& output);

  // Re-reads the catalog and re-creates views that changed. Query() does it
  // when the catalog changed since the last call.
  Status Refresh();

  // The SQL of the view for `table` (for tests and docs).
  std::string ViewSql(const TableInfo& table, bool has_files) const;

  // Queries running now.
  uint32_t running() const { return running_.load(); }

  struct Impl;

 private:
  explicit QueryEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::atomic<uint32_t> running_{0};
};

// The first word of a statement's SQL, upper-cased, after comments and
// opening parentheses ("SELECT", "WITH", "COPY"...), and for EXPLAIN the
// word it explains. Exposed for tests.
std::string LeadingKeyword(std::string_view sql, bool skip_explain);

// The status code to HTTP status used by the routes and the CLI.
int HttpStatusOf(const Status& status);
const char* ErrorCodeOf(const Status& status);

}  // namespace inlet::lake
