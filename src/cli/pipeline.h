// Pipeline: every component a configuration declares, wired together in one
// process (the embedded default): the bus, the HTTP server with the ingest,
// consumer and status APIs, and the delivery streams. Start() opens and
// recovers everything; Stop() shuts down cleanly (flushes, persists cursors).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "config/config.h"

namespace inlet::cli {

// What the demo and operators look at; read from the live components.
struct PipelineStats {
  uint64_t events_ingested = 0;  // accepted and durable, all topics
  uint64_t bytes_ingested = 0;
  std::map<std::string, uint64_t> rejected_at_ingest;  // by reason
  std::map<std::string, uint64_t> backlog;             // by subscription
  uint64_t lake_files = 0;  // Parquet files committed by delivery streams
  uint64_t lake_bytes = 0;
  uint64_t lake_rows = 0;
  uint64_t lake_error_rows = 0;
};

class Pipeline {
 public:
  explicit Pipeline(config::Config config);
  ~Pipeline();

  Status Start();
  void Stop();
  uint16_t port() const;
  const config::Config& config() const;
  PipelineStats Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace inlet::cli
