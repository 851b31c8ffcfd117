#include "cli/pipeline.h"

#include <spdlog/spdlog.h>

#include "bus/embedded_bus.h"
#include "cli/lake_commands.h"
#include "common/metrics.h"
#include "delivery/delivery_stream.h"
#include "http/api_keys.h"
#include "http/http_server.h"
#include "ingest/ingest_service.h"
#include "lake/lake_routes.h"
#include "lake/lake_service.h"
#include "notify/notification_service.h"
#include "process/processing_service.h"
#include "storage/local_object_store.h"
#include "web/dashboard_routes.h"
#include "web/status_api.h"

namespace inlet::cli {

struct Pipeline::Impl {
  config::Config config;
  MetricsRegistry metrics;
  std::unique_ptr<bus::EmbeddedBus> bus;
  std::unique_ptr<http::ApiKeys> keys;
  std::unique_ptr<http::HttpServer> server;
  std::unique_ptr<ingest::IngestService> ingest;
  std::unique_ptr<storage::ObjectStore> lake;
  std::vector<std::unique_ptr<delivery::DeliveryStream>> streams;
  std::unique_ptr<notify::NotificationService> notify;
  std::unique_ptr<process::ProcessingService> processing;
  std::unique_ptr<lake::LakeService> lake_service;
};

namespace {

void AddDeliveryCollectors(std::vector<std::unique_ptr<delivery::DeliveryStream>>* streams,
                           MetricsRegistry* metrics) {
  metrics->AddCollector([streams](const MetricsRegistry::Emit& emit) {
    for (const auto& s : *streams) {
      const delivery::DeliveryMetrics m = s->Metrics();
      const std::string l = "stream=\"" + s->config().name + "\"";
      emit("inlet_delivery_files_total", "Parquet files committed to the lake", "counter", l,
           double(m.files_written));
      emit("inlet_delivery_bytes_total", "Parquet bytes committed to the lake", "counter", l,
           double(m.bytes_written));
      emit("inlet_delivery_rows_total", "Rows committed to the lake", "counter", l,
           double(m.rows_written));
      emit("inlet_delivery_error_rows_total", "Records written to the error prefix", "counter", l,
           double(m.error_rows_written));
      emit("inlet_delivery_buffered_bytes", "Payload bytes buffered, not yet in a file", "gauge", l,
           double(m.buffered_bytes));
      emit("inlet_delivery_open_partitions", "Partitions with buffered events", "gauge", l,
           double(m.open_partitions));
      emit("inlet_delivery_last_latency_seconds",
           "Arrival of the oldest event of the last flush to its commit", "gauge", l,
           m.last_delivery_latency_s);
      emit("inlet_delivery_flush_failures_total", "Flushes that failed and were retried", "counter",
           l, double(m.flush_failures));
      emit("inlet_delivery_committed_seq", "Highest sequence id committed to the lake", "gauge", l,
           double(m.committed_seq));
      for (const auto& [type, n] : m.errors_by_type) {
        emit("inlet_delivery_errors_total", "Records sent to the error prefix, by error type",
             "counter", l + ",type=\"" + type + "\"", double(n));
      }
    }
  });
}

}  // namespace

Pipeline::Pipeline(config::Config config) : impl_(new Impl) { impl_->config = std::move(config); }

Pipeline::~Pipeline() { Stop(); }

const config::Config& Pipeline::config() const { return impl_->config; }

uint16_t Pipeline::port() const { return impl_->server ? impl_->server->port() : 0; }

Status Pipeline::Start() {
  auto& c = impl_->config;
  auto bus = bus::EmbeddedBus::Open(c.EmbeddedBus());
  if (!bus.ok()) return bus.status();
  impl_->bus = std::move(bus).value();

  std::vector<http::ApiKey> keys;
  for (const auto& k : c.api_keys) {
    keys.push_back(http::ApiKey{k.id, k.sha256_hex, k.publish_topics, k.consume_subscriptions,
                                k.query, k.admin});
  }
  impl_->keys = std::make_unique<http::ApiKeys>(std::move(keys), c.server.auth);

  http::ServerOptions so;
  so.host = c.server.host;
  so.port = c.server.port;
  so.threads = c.server.io_threads;
  so.max_body_bytes = c.limits.max_request_bytes;
  so.request_timeout = c.server.request_timeout;
  so.idle_timeout = c.server.idle_timeout;
  so.max_connections = c.server.max_connections;
  impl_->server = std::make_unique<http::HttpServer>(so);
  impl_->ingest = std::make_unique<ingest::IngestService>(impl_->bus.get(), c, impl_->keys.get(),
                                                          &impl_->metrics);
  impl_->ingest->RegisterRoutes(impl_->server.get());
  web::AddBusCollectors(impl_->bus.get(), &impl_->metrics);

  if (!c.delivery_streams.empty() || !c.process.processors.empty()) {
    auto store = storage::LocalObjectStore::Open(c.storage.lake_dir);
    if (!store.ok()) return store.status();
    impl_->lake = std::move(store).value();
  }
  if (!c.delivery_streams.empty()) {
    for (const auto& d : c.delivery_streams) {
      auto stream = delivery::DeliveryStream::Create(
          d, impl_->bus->FindSubscription(d.subscription), impl_->lake.get());
      if (!stream.ok()) return stream.status();
      impl_->streams.push_back(std::move(stream).value());
    }
    for (auto& s : impl_->streams) s->Start();
    AddDeliveryCollectors(&impl_->streams, &impl_->metrics);
  }
  if (!c.process.processors.empty()) {
    auto p = process::ProcessingService::Create(c.process, c.tables, impl_->bus.get(),
                                                impl_->lake.get(), &impl_->metrics);
    if (!p.ok()) return p.status();
    impl_->processing = std::move(p).value();
    INLET_RETURN_IF_ERROR(impl_->processing->Start());
  }
  if (!c.notify.targets.empty()) {
    auto n = notify::NotificationService::Create(c.notify, impl_->bus.get(), &impl_->metrics);
    if (!n.ok()) return n.status();
    impl_->notify = std::move(n).value();
    impl_->notify->Start();
  }
  web::RegisterStatusRoutes(impl_->server.get(), impl_->bus.get(), &impl_->metrics);
  // Web dashboard (issue 7): the UI at / and /ui/*, saved dashboards under <data_dir>/dashboards.
  web::RegisterDashboardRoutes(impl_->server.get(), impl_->keys.get(),
                               c.storage.data_dir / "dashboards");
  // The catalog and SQL over the lake (tables of the config, scheduled crawlers).
  auto lake_service = lake::LakeService::Open(c.lake, c.storage.lake_dir, LakeTablesFromConfig(c));
  if (!lake_service.ok()) return lake_service.status();
  impl_->lake_service = std::move(lake_service).value();
  INLET_RETURN_IF_ERROR(impl_->lake_service->Start());
  lake::RegisterLakeRoutes(impl_->server.get(), impl_->lake_service.get(), impl_->keys.get());
  INLET_RETURN_IF_ERROR(impl_->server->Start());
  spdlog::info("inlet listening on http://{}:{} (auth {})", c.server.host, impl_->server->port(),
               c.server.auth ? "on" : "off");
  return Status::Ok();
}

PipelineStats Pipeline::Stats() const {
  PipelineStats st;
  if (!impl_->bus) return st;
  for (const auto& name : impl_->bus->SubscriptionNames()) {
    st.backlog[name] = impl_->bus->FindSubscription(name)->Stats().backlog;
  }
  for (const auto& t : impl_->config.topics) {
    const std::string l = "topic=\"" + t.bus.name + "\"";
    st.events_ingested += impl_->metrics.GetCounter("inlet_ingest_events_total", "", l).value();
    st.bytes_ingested += impl_->metrics.GetCounter("inlet_ingest_bytes_total", "", l).value();
  }
  impl_->metrics.ForEachCounter(
      "inlet_ingest_rejected_total", [&](const std::string& labels, uint64_t v) {
        const size_t p = labels.find("reason=\"");
        if (p != std::string::npos && v > 0) {
          st.rejected_at_ingest[labels.substr(p + 8, labels.find('"', p + 8) - p - 8)] += v;
        }
      });
  for (const auto& s : impl_->streams) {
    const delivery::DeliveryMetrics m = s->Metrics();
    st.lake_files += m.files_written;
    st.lake_bytes += m.bytes_written;
    st.lake_rows += m.rows_written;
    st.lake_error_rows += m.error_rows_written;
  }
  return st;
}

void Pipeline::Stop() {
  if (impl_->server) impl_->server->Stop();
  if (impl_->notify) impl_->notify->Stop();
  if (impl_->processing) impl_->processing->Stop();
  if (impl_->lake_service) impl_->lake_service->Stop();
  for (auto& s : impl_->streams) {
    Status st = s->Stop();
    if (!st.ok())
      spdlog::error("delivery stream {}: final flush failed: {}", s->config().name, st.ToString());
  }
  if (impl_->bus) impl_->bus->Close();
  impl_->ingest.reset();
  impl_->server.reset();
  impl_->streams.clear();
  impl_->notify.reset();
  impl_->processing.reset();
  impl_->lake_service.reset();
  impl_->bus.reset();
}

}  // namespace inlet::cli
