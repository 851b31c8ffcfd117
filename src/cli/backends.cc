#include "cli/backends.h"

#include <algorithm>

#include "bus/embedded_bus.h"
#include "bus/jetstream_bus.h"
#include "storage/local_object_store.h"
#include "storage/s3_object_store.h"

namespace inlet::cli {

Result<std::unique_ptr<bus::Bus>> OpenBus(const config::Config& config) {
  if (config.bus.type == config::BusSettings::Type::kEmbedded) {
    auto bus = bus::EmbeddedBus::Open(config.EmbeddedBus());
    if (!bus.ok()) return bus.status();
    return std::unique_ptr<bus::Bus>(std::move(*bus));
  }
  const auto& js = config.bus.jetstream;
  bus::JetStreamConfig c;
  c.servers = js.servers;
  c.stream_prefix = js.stream_prefix;
  c.replicas = js.replicas;
  c.publish_timeout = js.publish_timeout;
  c.api_timeout = js.api_timeout;
  c.publish_retries = js.publish_retries;
  c.lease_ttl = js.lease_ttl;
  c.credentials_file = js.credentials_file;
  c.max_pending_events = std::max<size_t>(1000, config.limits.max_pending_bytes / 256);
  bus::EmbeddedBusConfig declared = config.EmbeddedBus();
  c.topics = std::move(declared.topics);
  c.subscriptions = std::move(declared.subscriptions);
  // Each topic's stream keeps events for the topic's retention (declared
  // topics above) and has one subject per partition.
  for (const auto& t : config.topics) c.partitions[t.bus.name] = t.partitions;
  auto bus = bus::JetStreamBus::Open(c);
  if (!bus.ok()) return bus.status();
  return std::unique_ptr<bus::Bus>(std::move(*bus));
}

Result<std::unique_ptr<storage::ObjectStore>> OpenLake(const config::Config& config) {
  if (!config.storage.s3.enabled) {
    auto store = storage::LocalObjectStore::Open(config.storage.lake_dir);
    if (!store.ok()) return store.status();
    return std::unique_ptr<storage::ObjectStore>(std::move(*store));
  }
  const auto& s3 = config.storage.s3;
  storage::S3Options o;
  o.endpoint = s3.endpoint;
  o.region = s3.region;
  o.bucket = s3.bucket;
  o.prefix = s3.prefix;
  o.path_style = s3.path_style;
  o.multipart_threshold = s3.multipart_threshold;
  o.part_size = s3.part_size;
  o.max_attempts = s3.max_attempts;
  o.request_timeout = s3.request_timeout;
  INLET_RETURN_IF_ERROR(storage::ResolveCredentials(&o));
  if (s3.create_bucket) {
    auto unchecked = storage::S3ObjectStore::OpenUnchecked(o);
    if (!unchecked.ok()) return unchecked.status();
    INLET_RETURN_IF_ERROR((*unchecked)->CreateBucket());
  }
  auto store = storage::S3ObjectStore::Open(std::move(o));
  if (!store.ok()) return store.status();
  return std::unique_ptr<storage::ObjectStore>(std::move(*store));
}

}  // namespace inlet::cli
