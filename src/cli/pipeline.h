// Pipeline: the components a configuration declares, wired together in one
// process. `inlet run` runs every role (the embedded default); `inlet
// ingest|deliver|process|serve` run one role each, so that several
// processes of each role share the work on NATS JetStream and S3:
//   ingest   the HTTP ingest and consumer APIs (publishes to the bus)
//   deliver  the delivery streams (raw events to the lake)
//   process  the processors (curated tables and aggregates)
//   serve    the catalog, crawlers, SQL, dashboard and notifications
// Every role serves /healthz, /readyz and /metrics. With a bus that has
// leases (JetStream), deliver and process split the partitions of their
// subscriptions among the live processes of the role (cluster/). Start()
// opens and recovers everything; Stop() shuts down cleanly.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "config/config.h"

namespace inlet::cli {

enum Role : unsigned {
  kRoleIngest = 1,
  kRoleDeliver = 2,
  kRoleProcess = 4,
  kRoleServe = 8,
  kAllRoles = 15,
};

struct PipelineOptions {
  unsigned roles = kAllRoles;
  // Overrides server.listen (several processes on one host); port 0 picks one.
  std::optional<std::string> listen_host;
  std::optional<uint16_t> listen_port;
  // Identifies this process among the members of its role ("" : generated).
  std::string worker_id;
};

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
  explicit Pipeline(config::Config config, PipelineOptions options = {});
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

// "ingest,deliver" (or "(all roles)") for logs.
std::string RoleNames(unsigned roles);
// "ingest,deliver" -> roles; an error names the unknown role.
Result<unsigned> ParseRoles(std::string_view text);

}  // namespace inlet::cli
