// The whole configuration of an inlet deployment, loaded from one YAML file
// and validated as a whole (unknown keys, types, references, limits) before
// anything starts. Errors name the file, line, column and key. Plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bus/bus_config.h"
#include "common/status.h"
#include "delivery/delivery_stream_config.h"
#include "lake/lake_config.h"
#include "notify/notify_config.h"
#include "process/process_config.h"
#include "schema/table_schema.h"

namespace inlet::config {

struct ServerConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int io_threads = 2;
  bool auth = true;  // false is allowed only on a loopback address
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds request_timeout{30000};  // whole request, headers and body
  uint32_t max_connections = 10000;
};

struct StorageConfig {
  std::filesystem::path data_dir = "data";
  std::filesystem::path log_dir;   // default <data_dir>/log
  std::filesystem::path lake_dir;  // default <data_dir>/lake
};

struct LimitsConfig {
  uint64_t max_event_bytes = 1ull << 20;
  uint64_t max_request_bytes = 16ull << 20;  // after decompression too
  uint32_t max_events_per_request = 10000;
  uint64_t max_pending_bytes = 256ull << 20;  // bytes queued for the log writer, all requests
  uint64_t disk_budget = 0;                   // log bytes on disk; 0: unlimited
  std::chrono::seconds retry_after{1};
};

enum class Scope { kPublish, kConsume, kQuery, kAdmin };

struct ApiKeyConfig {
  std::string id;
  std::string sha256_hex;                          // of the secret key
  std::vector<std::string> publish_topics;         // "*" for all
  std::vector<std::string> consume_subscriptions;  // "*" for all
  bool query = false;
  bool admin = false;
};

struct TopicDecl {
  bus::TopicConfig bus;
  std::string table;  // qualified table name of its events, optional
};

struct SubscriptionDecl {
  bus::SubscriptionConfig bus;     // filter is set by the loader from the policy
  std::string filter_policy_json;  // "" when none
  std::string filter_policy_scope = "MessageAttributes";
};

struct Config {
  std::filesystem::path file;  // where it was loaded from
  ServerConfig server;
  StorageConfig storage;
  LimitsConfig limits;
  std::vector<ApiKeyConfig> api_keys;
  std::map<std::string, schema::TableSchema> tables;  // by qualified name db.table
  std::vector<TopicDecl> topics;
  std::vector<SubscriptionDecl> subscriptions;
  std::vector<delivery::DeliveryStreamConfig> delivery_streams;
  notify::NotifyConfig notify;
  process::ProcessConfig process;
  lake::LakeConfig lake;

  const TopicDecl* FindTopic(std::string_view name) const;
  const SubscriptionDecl* FindSubscription(std::string_view name) const;
  // The bus declarations with log folder, limits and compiled filters.
  bus::EmbeddedBusConfig EmbeddedBus() const;
};

// Loads and validates `path`. On failure the status message lists every
// problem found, one per line, as "file:line:column: key.path: problem".
Result<Config> LoadConfig(const std::filesystem::path& path);
// The same from text, `name` standing for the file in messages.
Result<Config> ParseConfig(std::string_view yaml_text, const std::string& name);

// "16MiB", "1GB", "512KiB", "4096" -> bytes; "30s", "100ms", "5m", "24h", "7d" -> duration.
Result<uint64_t> ParseSize(std::string_view text);
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace inlet::config
