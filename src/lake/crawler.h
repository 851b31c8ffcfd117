// Crawler: infers a table's schema and partitions from the Parquet files
// under a lake prefix (the Glue crawler of inlet). It reads each file's
// footer through DuckDB, discovers Hive partitions (key=value folders),
// merges the files' schemas (added columns, widened types), and applies the
// differences to the catalog by the configured schema change policy.
// Incompatible changes (a type that is not a widening) are reported with
// what changed and never applied. Not thread-safe: one crawl at a time per
// Crawler; the catalog may be shared.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "lake/catalog.h"
#include "lake/lake_config.h"

namespace inlet::lake {

struct CrawlOptions {
  std::string table;   // "db.name"
  std::string prefix;  // lake-relative folder; "" = the table's location (or "<db>/<name>/")
  std::string crawler = "cli";  // recorded as "crawler:<name>" in the schema history
  RecrawlPolicy recrawl = RecrawlPolicy::kEverything;
  UpdateBehavior update_behavior = UpdateBehavior::kUpdateInCatalog;
  DeleteBehavior delete_behavior = DeleteBehavior::kDeprecateInCatalog;
  // Called after each file read, with (files read, files to read).
  std::function<void(size_t, size_t)> progress;
};

struct CrawlReport {
  std::string table;
  std::string location;
  bool created = false;
  size_t files_found = 0;  // under the prefix
  size_t files_read = 0;   // footers read (all, or those of new folders)
  size_t partitions_found = 0;
  size_t partitions_new = 0;
  size_t partitions_gone = 0;
  uint64_t rows = 0;                      // in the files read
  uint64_t bytes = 0;                     // of the files read
  std::vector<std::string> applied;       // changes written to the catalog
  std::vector<std::string> logged;        // changes seen, left out by the policy
  std::vector<std::string> incompatible;  // never applied; what changed, and where
  int64_t schema_version = 0;

  // Several lines for a terminal: what was found and what changed.
  std::string Summary() const;
};

// The type both `a` and `b` values fit in when one widens the other (int ->
// bigint -> double, date -> timestamp, decimal precision, struct fields
// added, element types widened), or nullopt when they are incompatible.
std::optional<std::string> WidenedType(const std::string& a, const std::string& b);

class Crawler {
 public:
  // Both must outlive the crawler.
  Crawler(Catalog* catalog, std::filesystem::path lake_dir);

  Result<CrawlReport> Crawl(const CrawlOptions& options);

 private:
  Catalog* catalog_;
  std::filesystem::path lake_dir_;
};

// A CrawlOptions from a configured crawler.
CrawlOptions CrawlOptionsOf(const CrawlerConfig& config);

}  // namespace inlet::lake
