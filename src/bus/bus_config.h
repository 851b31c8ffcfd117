// Declarations of topics and subscriptions, as the configuration gives them
// to a bus implementation. Plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace inlet::bus {

class FilterPolicy;

struct TopicConfig {
  std::string name;
  uint64_t segment_bytes = 128ull << 20;
  std::chrono::seconds retention{24 * 3600};  // kept at least this long after the last write
};

struct SubscriptionConfig {
  std::string name;
  std::string topic;
  std::chrono::milliseconds visibility_timeout{30000};
  uint32_t max_receive_count = 0;  // 0: never dead-letter
  std::string dead_letter_topic;   // required when max_receive_count > 0
  // The compiled filter policy; null delivers everything.
  std::shared_ptr<const FilterPolicy> filter_policy;
  uint64_t max_unacked = 1'000'000;  // window of unacknowledged messages tracked
};

struct EmbeddedBusConfig {
  std::filesystem::path log_dir;
  uint64_t disk_budget_bytes = 0;  // 0: unlimited
  uint64_t max_pending_bytes = 256ull << 20;
  bool fsync = true;
  std::vector<TopicConfig> topics;
  std::vector<SubscriptionConfig> subscriptions;
};

}  // namespace inlet::bus
