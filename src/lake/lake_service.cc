#include "lake/lake_service.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>

#include "common/thread_name.h"
#include "lake/versions.h"

namespace inlet::lake {

namespace fs = std::filesystem;

TableInfo TableInfoOf(const TableRegistration& r) {
  TableInfo t;
  t.database = r.schema.database;
  t.name = r.schema.name;
  t.location = r.location.empty() ? t.database + "/" + t.name + "/" : r.location;
  if (t.location.back() != '/') t.location += '/';
  t.compression = r.compression;
  t.description = r.schema.description;
  t.source = "config";
  for (const auto& c : r.schema.columns) {
    t.columns.push_back(
        {c.name, c.type ? c.type->ToString() : "string", c.required, c.description, false});
  }
  for (const auto& c : r.extra_columns) t.columns.push_back(c);
  t.partition_keys = r.partition_keys;
  return t;
}

Result<std::unique_ptr<LakeService>> LakeService::Open(const LakeConfig& config,
                                                       const fs::path& lake_dir,
                                                       const std::vector<TableRegistration>& tables,
                                                       EngineOptions engine_options) {
  std::error_code ec;
  fs::create_directories(lake_dir, ec);
  if (ec)
    return Status::IoError("cannot create the lake folder " + lake_dir.string() + ": " +
                           ec.message());
  std::unique_ptr<LakeService> s(new LakeService());
  s->config_ = config;
  s->lake_dir_ = lake_dir;
  fs::path file =
      config.catalog.path.empty() ? lake_dir / "_catalog" / "catalog.db" : config.catalog.path;
  auto catalog = Catalog::Open(file);
  if (!catalog.ok()) return catalog.status();
  s->catalog_ = std::move(catalog).value();
  for (const auto& db : config.catalog.databases)
    INLET_RETURN_IF_ERROR(s->catalog_->EnsureDatabase(db));
  for (const auto& r : tables) {
    auto put = s->catalog_->PutTable(TableInfoOf(r), "config");
    if (!put.ok())
      return Status(put.status().code(),
                    "registering " + r.schema.QualifiedName() + ": " + put.status().message());
  }
  // Registering reset the locations to the configuration: re-apply the table
  // versions made current by `inlet versions use` (docs/reprocessing.md).
  auto versions = TableVersions::Open(s->catalog_.get());
  if (!versions.ok()) return versions.status();
  INLET_RETURN_IF_ERROR((*versions)->ApplyCurrent());
  auto engine =
      QueryEngine::Open(config.query, lake_dir, s->catalog_.get(), std::move(engine_options));
  if (!engine.ok()) return engine.status();
  s->engine_ = std::move(engine).value();
  s->pool_ =
      std::make_unique<BlockingPool>(config.query.max_concurrent, config.query.max_concurrent * 4);
  return s;
}

LakeService::~LakeService() { Stop(); }

Status LakeService::Start() {
  bool any = false;
  for (const auto& c : config_.crawlers) any |= c.schedule.count() > 0;
  if (any && !scheduler_.joinable())
    scheduler_ = std::thread([this] {
      SetThreadName("lake-schedule");
      RunSchedule();
    });
  return Status::Ok();
}

void LakeService::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
}

void LakeService::RunSchedule() {
  using Clock = std::chrono::steady_clock;
  std::map<std::string, Clock::time_point> due;
  for (const auto& c : config_.crawlers) {
    if (c.schedule.count() > 0) due[c.name] = Clock::now();
  }
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto next = Clock::time_point::max();
    for (const auto& c : config_.crawlers) {
      if (!due.count(c.name)) continue;
      if (due[c.name] <= Clock::now()) {
        lock.unlock();
        auto report = RunCrawler(c.name);
        if (!report.ok()) {
          spdlog::warn("crawler {}: {}", c.name, report.status().ToString());
        } else if (!report->applied.empty() || !report->incompatible.empty() || report->created) {
          spdlog::info("crawler {}:\n{}", c.name, report->Summary());
        }
        lock.lock();
        due[c.name] = Clock::now() + c.schedule;
      }
      next = std::min(next, due[c.name]);
    }
    if (stopping_) break;
    cv_.wait_until(lock, next);
  }
}

Result<CrawlReport> LakeService::RunCrawler(const std::string& name) {
  for (const auto& c : config_.crawlers) {
    if (c.name == name) return Crawl(CrawlOptionsOf(c));
  }
  return Status::NotFound("no crawler '" + name + "' in the configuration");
}

Result<CrawlReport> LakeService::Crawl(const CrawlOptions& options) {
  std::lock_guard lock(crawl_mu_);
  Crawler crawler(catalog_.get(), lake_dir_);
  return crawler.Crawl(options);
}

}  // namespace inlet::lake
