// Health, readiness and Prometheus metrics endpoints, and the collectors that
// expose the bus (log bytes, fsync, per-subscription backlog and oldest
// unacknowledged age) at scrape time.
//   GET /healthz  the process serves requests
//   GET /readyz   the bus is open and the disk budget is not exhausted
//   GET /metrics  Prometheus text format
// The bus and registry must outlive the routes. Thread-safe.
#pragma once

#include "bus/embedded_bus.h"
#include "common/metrics.h"
#include "http/http_server.h"

namespace inlet::web {

// Adds collectors for every subscription of `bus` to `metrics`, and for the
// log of every topic when it is the embedded bus.
void AddBusCollectors(bus::Bus* bus, MetricsRegistry* metrics);

void RegisterStatusRoutes(http::HttpServer* server, bus::Bus* bus, MetricsRegistry* metrics);

}  // namespace inlet::web
