// LakeService: the lake's runtime under `inlet run` and the CLI: opens the
// catalog next to the lake (<lake>/_catalog/catalog.db by default),
// registers the tables the configuration declares (from the same
// schema::TableSchema objects that drive validation and Parquet writing),
// opens the query engine over them, and runs the scheduled crawlers on a
// background thread. Thread-safe; Stop() before destruction (the destructor
// calls it).
#pragma once

#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/blocking_pool.h"
#include "common/status.h"
#include "lake/catalog.h"
#include "lake/crawler.h"
#include "lake/lake_config.h"
#include "lake/query_engine.h"
#include "schema/table_schema.h"

namespace inlet::lake {

// A table the configuration declares.
struct TableRegistration {
  schema::TableSchema schema;  // database, name, columns, description
  std::string location;        // lake-relative prefix; "" = "<database>/<name>/"
  std::string compression = "zstd";
  std::vector<ColumnInfo> extra_columns;   // written by the producer beyond the schema (_seq, ...)
  std::vector<ColumnInfo> partition_keys;  // Hive folders, in order
};

// The catalog entry of a registration.
TableInfo TableInfoOf(const TableRegistration& registration);

class LakeService {
 public:
  // Creates `lake_dir` when missing. `engine_options` for the CLI's output files.
  static Result<std::unique_ptr<LakeService>> Open(const LakeConfig& config,
                                                   const std::filesystem::path& lake_dir,
                                                   const std::vector<TableRegistration>& tables,
                                                   EngineOptions engine_options = {});
  ~LakeService();
  LakeService(const LakeService&) = delete;
  LakeService& operator=(const LakeService&) = delete;

  // Starts the scheduled crawlers (those with a schedule > 0).
  Status Start();
  void Stop();

  // Runs the configured crawler `name` now.
  Result<CrawlReport> RunCrawler(const std::string& name);
  Result<CrawlReport> Crawl(const CrawlOptions& options);

  Catalog* catalog() { return catalog_.get(); }
  QueryEngine* engine() { return engine_.get(); }
  const LakeConfig& config() const { return config_; }
  const std::filesystem::path& lake_dir() const { return lake_dir_; }
  // Runs queries of the HTTP API off the I/O threads.
  BlockingPool* query_pool() { return pool_.get(); }

 private:
  LakeService() = default;
  void RunSchedule();

  LakeConfig config_;
  std::filesystem::path lake_dir_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<QueryEngine> engine_;
  std::unique_ptr<BlockingPool> pool_;
  std::mutex crawl_mu_;  // one crawl at a time

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread scheduler_;
};

}  // namespace inlet::lake
