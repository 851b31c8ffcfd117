// DeliveryStreamConfig: every setting of one delivery stream (the Firehose of
// inlet) with its default, and the validation the config loader calls before
// anything starts. Plain values; thread-compatible.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "schema/table_schema.h"

namespace inlet::delivery {

enum class Compression { kZstd, kSnappy, kGzip, kNone };

// "zstd", "snappy", "gzip", "none" (also "uncompressed").
Result<Compression> ParseCompression(std::string_view text);
const char* CompressionName(Compression c);

// A key for `!{partitionKeyFromQuery:name}`: the value at a JSON path of the
// payload ("$.device.os", ".device.os" or "device.os"; object keys only).
struct PartitionKey {
  std::string name;
  std::string json_path;
};

inline constexpr char kDefaultPrefix[] =
    "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/";
inline constexpr char kDefaultErrorPrefix[] =
    "errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/"
    "day=!{timestamp:dd}/";

// Limits of the buffering hints, as Firehose has them.
inline constexpr std::chrono::seconds kMaxBufferInterval{900};
inline constexpr uint64_t kMinBufferBytes = 1ull << 20;
inline constexpr uint64_t kMaxBufferBytes = 128ull << 20;

struct DeliveryStreamConfig {
  std::string name;           // [A-Za-z0-9_.-]+; part of every file name
  std::string subscription;   // the bus subscription it consumes
  schema::TableSchema table;  // Parquet columns; table.database/name give the default location
  // Bump when the table schema changes: part of the file names, so files of a
  // new schema never replace files of an old one.
  uint32_t version = 1;
  // Key prefix of the table in the lake; "" means "<database>/<name>/"
  // ("raw/events/"). Data keys are location + prefix + file name.
  std::string location;
  // Set when this instance writes one partition of a partitioned subscription
  // (one process of `inlet deliver` per owned partition): its state and file
  // names then carry ".p<N>", so partitions commit independently.
  std::optional<uint32_t> partition;
  // "<name>" or "<name>.p<N>": the name of the stream's state and files.
  std::string StateName() const {
    return partition ? name + ".p" + std::to_string(*partition) : name;
  }

  // Buffering hints: a flush happens when the first is reached.
  std::chrono::seconds buffer_interval{300};  // 0..900 s; 0 flushes after every fetch
  uint64_t buffer_size_bytes = 64ull << 20;   // 1..128 MiB of input payload in one partition
  // Flush when no event arrived for this long (0: never; only the interval applies).
  std::chrono::seconds idle_flush{60};

  Compression compression = Compression::kZstd;
  int compression_level = 0;               // zstd 1..22 (1 is fastest); 0: inlet's default (2)
  uint64_t row_group_rows = 122'880;       // Parquet row group size (DuckDB's default)
  uint64_t max_file_bytes = 128ull << 20;  // input payload bytes per file; larger partitions split

  std::string prefix = kDefaultPrefix;             // relative to location
  std::string error_prefix = kDefaultErrorPrefix;  // relative to the lake root
  std::vector<PartitionKey> partition_keys;

  // JSON path of the event time used for `!{timestamp:..}` ("" = arrival time).
  // When the value is missing or not a timestamp, arrival time is used; the
  // choice is recorded per row in the `_time_source` column.
  std::string time_field;
  // Top-level fields not in the table go to a JSON column `_extra`.
  bool keep_unknown_fields = false;

  // Limits: when reached, the buffered range is flushed before more is read.
  uint64_t max_buffered_bytes = 256ull << 20;
  uint32_t max_open_partitions = 500;

  // Consumer tuning.
  uint32_t fetch_max_messages = 1000;
};

// Checks every setting (ranges, names, prefixes, partition keys, the table
// schema); the message names the stream and the key at fault.
Status ValidateDeliveryStreamConfig(const DeliveryStreamConfig& config);

// The table location with the default applied and a trailing '/'.
std::string EffectiveLocation(const DeliveryStreamConfig& config);

}  // namespace inlet::delivery
