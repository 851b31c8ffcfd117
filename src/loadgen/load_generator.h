// LoadGenerator: an HTTP load generator for inlet's publish API (the engine
// of `inlet loadgen`, bench/ingest and the crash tests). Each connection is a
// thread with a keep-alive HttpClient sending batches (NDJSON) or single
// events, paced to a total rate or as fast as acknowledgements allow, and
// recording ack latency. Every event carries a unique id; acknowledged ids
// can be logged so a test can prove none was lost. Thread-safe to Run once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace inlet::loadgen {

struct LoadOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string topic = "events";
  std::string api_key;  // sent as a Bearer token when not empty
  double rate = 0;      // events per second over all connections; 0: unlimited
  std::chrono::milliseconds duration{10000};
  uint64_t max_events = 0;  // stop after this many acknowledged events; 0: no limit
  uint32_t batch = 500;     // events per request; 1 sends a single JSON object
  uint32_t connections = 8;
  // Payload template; placeholders: {{id}} unique event id, {{seq}} counter,
  // {{ts}} RFC 3339 now, {{user}} one of 10k user ids, {{rand}} 0..999999.
  std::string payload_template;
  std::string id_prefix = "e";  // ids read <prefix>-<connection>-<n>
  // Called after each acknowledged request with the ids it carried, in order
  // (from the connection's thread).
  std::function<void(uint32_t connection, uint64_t first_n, uint64_t last_n)> on_ack;
  // Called when a request's outcome is unknown (the connection failed after
  // sending): the server may or may not have stored those ids. They are not
  // sent again, so that a retry never duplicates an event.
  std::function<void(uint32_t connection, uint64_t first_n, uint64_t last_n)> on_unknown;
  std::atomic<bool>* stop = nullptr;  // set to stop early
  // Sends `Idempotency-Key: <prefix>-<connection>-<first n>` with each
  // request, the same when a refused request is sent again, so that a retry
  // after a 5xx (which may have stored part of the batch) stores nothing twice.
  bool idempotency_keys = false;
};

struct LoadReport {
  uint64_t events_acked = 0;
  uint64_t requests_ok = 0;
  uint64_t bytes_acked = 0;
  std::map<int, uint64_t> failures;  // HTTP status (0: connection error) -> requests
  double seconds = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double events_per_second() const { return seconds > 0 ? events_acked / seconds : 0; }
  double mb_per_second() const { return seconds > 0 ? bytes_acked / seconds / 1e6 : 0; }
  std::string Summary() const;
};

// A default ~330-byte location event like the demo app's.
std::string DefaultTemplate();

Result<LoadReport> RunLoad(const LoadOptions& options);

}  // namespace inlet::loadgen
