// Pipeline: every component a configuration declares, wired together in one
// process (the embedded default): the bus, the HTTP server with the ingest,
// consumer and status APIs, and the delivery streams. Start() opens and
// recovers everything; Stop() shuts down cleanly (flushes, persists cursors).
#pragma once

#include <memory>

#include "common/status.h"
#include "config/config.h"

namespace inlet::cli {

class Pipeline {
 public:
  explicit Pipeline(config::Config config);
  ~Pipeline();

  Status Start();
  void Stop();
  uint16_t port() const;
  const config::Config& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace inlet::cli
