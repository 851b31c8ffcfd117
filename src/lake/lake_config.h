// Settings of the lake's catalog, its crawlers and the SQL query engine,
// filled by the configuration loader (config/lake_section.cc) from the
// top-level `catalog:`, `query:` and `crawlers:` keys. Plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace inlet::lake {

// What a crawler does when the files show a new column or a widened type.
enum class UpdateBehavior { kLog, kUpdateInCatalog };
// What a crawler does when a column or partition is no longer in the files.
enum class DeleteBehavior { kLog, kDeleteFromCatalog, kDeprecateInCatalog };
// Which files a crawl reads: all of them, or only folders it has not seen.
enum class RecrawlPolicy { kEverything, kNewFoldersOnly };

struct CrawlerConfig {
  std::string name;
  std::string table;                 // qualified catalog name "db.table"
  std::string prefix;                // key prefix in the lake, "" = the table's location
  std::chrono::seconds schedule{0};  // run every this long under `inlet run`; 0: on demand only
  RecrawlPolicy recrawl = RecrawlPolicy::kEverything;
  UpdateBehavior update_behavior = UpdateBehavior::kUpdateInCatalog;
  DeleteBehavior delete_behavior = DeleteBehavior::kDeprecateInCatalog;
};

struct CatalogConfig {
  // SQLite file; "" = <lake>/_catalog/catalog.db.
  std::filesystem::path path;
  // Databases that always exist (more appear when tables name them).
  std::vector<std::string> databases = {"raw", "curated", "errors"};
};

struct QueryConfig {
  std::chrono::milliseconds timeout{30000};  // a query running longer is interrupted
  uint64_t default_max_rows = 1000;          // rows returned when the request names none
  uint64_t max_rows = 100000;                // upper bound of a request's max_rows
  uint64_t memory_limit = 1ull << 30;        // DuckDB memory_limit, bytes
  uint32_t max_concurrent = 4;               // queries at once; more get 429 + Retry-After
  uint32_t threads = 2;                      // DuckDB worker threads
  std::chrono::seconds retry_after{1};
};

struct LakeConfig {
  CatalogConfig catalog;
  QueryConfig query;
  std::vector<CrawlerConfig> crawlers;
};

const char* UpdateBehaviorName(UpdateBehavior b);
const char* DeleteBehaviorName(DeleteBehavior b);
const char* RecrawlPolicyName(RecrawlPolicy p);

}  // namespace inlet::lake
