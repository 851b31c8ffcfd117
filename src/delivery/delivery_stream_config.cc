#include "delivery/delivery_stream_config.h"

#include <cctype>
#include <set>

#include "delivery/json_path.h"
#include "delivery/prefix_expression.h"
#include "storage/object_store.h"

namespace inlet::delivery {
namespace {

bool IsName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      return false;
  }
  return s != "." && s != "..";
}

// Column names reserved for the metadata the stream adds.
constexpr std::string_view kReservedColumns[] = {"_seq", "_arrival_time", "_time_source", "_extra"};

}  // namespace

Result<Compression> ParseCompression(std::string_view text) {
  if (text == "zstd") return Compression::kZstd;
  if (text == "snappy") return Compression::kSnappy;
  if (text == "gzip") return Compression::kGzip;
  if (text == "none" || text == "uncompressed") return Compression::kNone;
  return Status::InvalidArgument("unknown compression '" + std::string(text) +
                                 "' (expected zstd, snappy, gzip or none)");
}

const char* CompressionName(Compression c) {
  switch (c) {
    case Compression::kZstd:
      return "zstd";
    case Compression::kSnappy:
      return "snappy";
    case Compression::kGzip:
      return "gzip";
    case Compression::kNone:
      return "uncompressed";
  }
  return "zstd";
}

std::string EffectiveLocation(const DeliveryStreamConfig& config) {
  std::string loc = config.location;
  if (loc.empty()) {
    loc = (config.table.database.empty() ? std::string("raw") : config.table.database) + "/" +
          (config.table.name.empty() ? config.name : config.table.name) + "/";
  }
  if (loc.back() != '/') loc.push_back('/');
  return loc;
}

Status ValidateDeliveryStreamConfig(const DeliveryStreamConfig& c) {
  const std::string where = "delivery stream '" + c.name + "': ";
  auto bad = [&](const std::string& key, const std::string& why) {
    return Status::InvalidArgument(where + key + ": " + why);
  };
  if (!IsName(c.name)) return bad("name", "must be non-empty letters, digits, '_', '-' or '.'");
  if (c.subscription.empty()) return bad("subscription", "is required");
  if (c.version == 0) return bad("version", "must be at least 1");
  if (c.buffer_interval.count() < 0 || c.buffer_interval > kMaxBufferInterval) {
    return bad("buffer_interval",
               "must be 0..900 seconds, got " + std::to_string(c.buffer_interval.count()));
  }
  if (c.buffer_size_bytes < kMinBufferBytes || c.buffer_size_bytes > kMaxBufferBytes) {
    return bad("buffer_size",
               "must be 1..128 MiB, got " + std::to_string(c.buffer_size_bytes) + " bytes");
  }
  if (c.idle_flush.count() < 0) return bad("idle_flush", "must not be negative");
  if (c.compression_level < 0 || c.compression_level > 22) {
    return bad("compression_level", "must be 1..22 (or 0 for the default)");
  }
  if (c.compression_level != 0 && c.compression != Compression::kZstd) {
    return bad("compression_level", "only applies to zstd");
  }
  if (c.row_group_rows < 1) return bad("row_group_rows", "must be at least 1");
  if (c.max_file_bytes < kMinBufferBytes) return bad("max_file_size", "must be at least 1 MiB");
  if (c.max_buffered_bytes < c.buffer_size_bytes) {
    return bad("max_buffered_bytes",
               "must be at least buffer_size (" + std::to_string(c.buffer_size_bytes) + " bytes)");
  }
  if (c.max_open_partitions < 1) return bad("max_open_partitions", "must be at least 1");
  if (c.fetch_max_messages < 1) return bad("fetch_max_messages", "must be at least 1");
  if (c.table.columns.empty()) return bad("table", "needs at least one column");
  std::set<std::string> names;
  for (const schema::Column& col : c.table.columns) {
    if (col.name.empty()) return bad("table.columns", "a column has no name");
    if (!col.type) return bad("table.columns." + col.name, "has no type");
    if (!names.insert(col.name).second)
      return bad("table.columns." + col.name, "is declared twice");
    for (std::string_view r : kReservedColumns) {
      if (col.name == r) return bad("table.columns." + col.name, "is reserved for stream metadata");
    }
  }
  if (!c.location.empty()) {
    std::string loc = EffectiveLocation(c);
    Status st = storage::ValidateObjectKey(loc.substr(0, loc.size() - 1));
    if (!st.ok()) return bad("location", st.message());
  }
  std::vector<std::string> key_names;
  std::set<std::string> seen_keys;
  for (const PartitionKey& k : c.partition_keys) {
    if (!IsName(k.name)) return bad("partition_keys", "invalid key name '" + k.name + "'");
    if (!seen_keys.insert(k.name).second)
      return bad("partition_keys." + k.name, "is declared twice");
    auto path = ParseJsonPath(k.json_path);
    if (!path.ok()) return bad("partition_keys." + k.name, path.status().message());
    key_names.push_back(k.name);
  }
  auto prefix = PrefixExpression::Parse(c.prefix, PrefixRole::kData, key_names);
  if (!prefix.ok()) return bad("prefix", prefix.status().message());
  for (const std::string& k : key_names) {
    if (c.prefix.find("!{partitionKeyFromQuery:" + k + "}") == std::string::npos) {
      return bad("partition_keys." + k, "is declared but not used in the prefix");
    }
  }
  auto error_prefix = PrefixExpression::Parse(c.error_prefix, PrefixRole::kError, key_names);
  if (!error_prefix.ok()) return bad("error_prefix", error_prefix.status().message());
  if (c.error_prefix.find("!{firehose:error-output-type}") == std::string::npos) {
    return bad("error_prefix",
               "must contain !{firehose:error-output-type} so that error types stay apart");
  }
  if (c.error_prefix.rfind(EffectiveLocation(c), 0) == 0) {
    return bad("error_prefix", "must not lie inside the table location '" + EffectiveLocation(c) +
                                   "' (error files would be read as table rows)");
  }
  if (!c.time_field.empty()) {
    auto path = ParseJsonPath(c.time_field);
    if (!path.ok()) return bad("time_field", path.status().message());
  }
  return Status::Ok();
}

}  // namespace inlet::delivery
