// Settings of the JetStream bus (bus/jetstream_bus.h): where the NATS
// servers are, how streams, consumers and the lease bucket are shaped, and
// the topics and subscriptions to serve. Plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bus/bus_config.h"

namespace inlet::bus {

struct JetStreamConfig {
  std::vector<std::string> servers;  // nats://127.0.0.1:4222, ... (any member of the cluster)
  // Streams are named <PREFIX>_<TOPIC> (upper case), subjects <prefix>.<topic>.<partition>,
  // the lease bucket <PREFIX>_leases. Letters, digits, '_' and '-'.
  std::string stream_prefix = "inlet";
  int replicas = 1;  // R3 in production (a quorum of 2 acknowledges a publish)
  std::chrono::milliseconds publish_timeout{5000};  // per attempt, then retried
  std::chrono::milliseconds api_timeout{5000};      // stream/consumer/KV requests
  // Retry budget of a publish on timeouts, "no responders" and 503s (leader
  // elections): publish_timeout x (publish_retries + 1) after the first
  // attempt, with backoff from 25 ms doubling to 2 s between attempts.
  int publish_retries = 8;
  // Stream MaxAge; 0: each topic's TopicConfig::retention. Messages older
  // than this are removed, consumed or not.
  std::chrono::seconds max_age{0};
  int64_t max_bytes = -1;                    // stream MaxBytes; -1: unlimited
  std::chrono::minutes duplicate_window{2};  // Nats-Msg-Id deduplication window
  uint32_t default_partitions = 1;
  std::map<std::string, uint32_t> partitions;  // per topic; default default_partitions
  std::chrono::milliseconds lease_ttl{10000};
  // Events published but not yet acknowledged by the stream, all topics; a
  // publish beyond it fails with kResourceExhausted (back-pressure).
  size_t max_pending_events = 200000;
  std::string credentials_file;  // NATS .creds file, optional
  std::vector<TopicConfig> topics;
  std::vector<SubscriptionConfig> subscriptions;
};

}  // namespace inlet::bus
