#include "cli/pipeline.h"

#include <spdlog/spdlog.h>

#include "bus/embedded_bus.h"
#include "common/metrics.h"
#include "http/api_keys.h"
#include "http/http_server.h"
#include "ingest/ingest_service.h"
#include "web/status_api.h"

namespace inlet::cli {

struct Pipeline::Impl {
  config::Config config;
  MetricsRegistry metrics;
  std::unique_ptr<bus::EmbeddedBus> bus;
  std::unique_ptr<http::ApiKeys> keys;
  std::unique_ptr<http::HttpServer> server;
  std::unique_ptr<ingest::IngestService> ingest;
};

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
    keys.push_back(http::ApiKey{k.id, k.sha256_hex, k.publish_topics, k.consume_subscriptions, k.query, k.admin});
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
  impl_->ingest = std::make_unique<ingest::IngestService>(impl_->bus.get(), c, impl_->keys.get(), &impl_->metrics);
  impl_->ingest->RegisterRoutes(impl_->server.get());
  web::AddBusCollectors(impl_->bus.get(), &impl_->metrics);
  web::RegisterStatusRoutes(impl_->server.get(), impl_->bus.get(), &impl_->metrics);
  INLET_RETURN_IF_ERROR(impl_->server->Start());
  spdlog::info("inlet listening on http://{}:{} (auth {})", c.server.host, impl_->server->port(),
               c.server.auth ? "on" : "off");
  return Status::Ok();
}

void Pipeline::Stop() {
  if (impl_->server) impl_->server->Stop();
  if (impl_->bus) impl_->bus->Close();
  impl_->ingest.reset();
  impl_->server.reset();
  impl_->bus.reset();
}

}  // namespace inlet::cli
