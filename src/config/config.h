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

// storage.s3: the lake in an S3 bucket (AWS, MinIO, Ceph radosgw) instead of
// lake_dir; lake_dir then holds the local cache that queries read.
struct S3Config {
  bool enabled = false;
  std::string endpoint;  // http(s)://host[:port]
  std::string region = "us-east-1";
  std::string bucket;
  std::string prefix;      // inside the bucket, "" or ending without '/'
  bool path_style = true;  // false: virtual-host style (bucket.host)
  // Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and
  // AWS_SESSION_TOKEN), else AWS_PROFILE of AWS_SHARED_CREDENTIALS_FILE or
  // ~/.aws/credentials: never from this file.
  uint64_t multipart_threshold = 16ull << 20;
  uint64_t part_size = 8ull << 20;
  int max_attempts = 5;
  std::chrono::milliseconds request_timeout{60000};
  // How often `serve` copies new data files of the bucket to its local
  // cache (lake_dir), which the catalog, crawlers and SQL read.
  std::chrono::milliseconds mirror_interval{5000};
  bool create_bucket = false;  // create the bucket at start when it is missing
};

struct StorageConfig {
  std::filesystem::path data_dir = "data";
  std::filesystem::path log_dir;   // default <data_dir>/log
  std::filesystem::path lake_dir;  // default <data_dir>/lake (with s3: the local cache)
  S3Config s3;
};

// bus.type: jetstream: the topics are replicated NATS JetStream streams.
struct JetStreamSettings {
  std::vector<std::string> servers;  // nats://host:port
  std::string stream_prefix = "inlet";
  int replicas = 1;
  std::chrono::milliseconds publish_timeout{5000};
  std::chrono::milliseconds api_timeout{5000};
  int publish_retries = 8;
  std::chrono::milliseconds lease_ttl{10000};
  std::string credentials_file;  // NATS .creds, optional
};

struct BusSettings {
  enum class Type { kEmbedded, kJetStream };
  Type type = Type::kEmbedded;
  JetStreamSettings jetstream;
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
  // Partitions of the topic on JetStream, and the event field (a JSON path
  // such as "user_id" or "$.user.id") whose value picks the partition, so
  // that every event of one person goes to the same partition.
  uint32_t partitions = 1;
  std::string partition_key;
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
  BusSettings bus;
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
