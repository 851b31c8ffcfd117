// Settings of processors (validation, flattening, masking, aggregation,
// workers and autoscaling), filled by the configuration loader
// (config/process_section.cc) and checked by ValidateProcessorConfig. Plain
// values; thread-compatible. Every limit has a named default here.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace inlet::process {

// Why an event was rejected; the folder under errors/ and the `category`
// column of error rows.
enum class ErrorCategory {
  kMalformedJson,
  kMissingField,
  kTypeMismatch,
  kOutOfRange,
  kInvalidValue,
  kTooLarge,
  kLateEvent,
};
inline constexpr int kErrorCategoryCount = 7;
const char* ErrorCategoryName(ErrorCategory c);  // "missing_field"
Result<ErrorCategory> ParseErrorCategory(std::string_view name);

// What happens to a rejected event of a category.
struct ErrorAction {
  bool store = true;    // Parquet under errors/<category>/year=/month=/day=/
  bool notify = false;  // a small JSON message on the errors topic
};

// One flat column of curated/events taken from the validated event.
enum class Derive {
  kNone,    // the value at `path`, with the table's type
  kAge,     // integer years: `path` (an age) or else `birth_date` relative to the event time
  kGender,  // female / male / unknown (see NormalizeGender)
};

struct FieldMapping {
  std::string column;  // flat column name in curated/events
  std::string path;    // JSON path into the table: "$.device.os"; "" for kAge from birth_date only
  Derive derive = Derive::kNone;
  std::string birth_date;  // kAge: JSON path of a date column
};

enum class MaskOp {
  kPseudonym,        // HMAC-SHA256(key, value), hex
  kHash,             // SHA-256(value), hex
  kRedact,           // null
  kReplace,          // a constant (`with`)
  kPartial,          // keep the first `keep_first` and last `keep_last` characters, '*' elsewhere
  kGeneralizeAge,    // integer age -> band label ("25-34")
  kTruncateTime,     // timestamp truncated to `unit` (second, minute, hour, day)
  kTruncateIp,       // IPv4 /24 (`ipv4_prefix`), IPv6 /48 (`ipv6_prefix`)
  kCoarsenLocation,  // (column, `lon_column`) snapped to a grid of `grid_m` metres
  kDrop,             // column removed from curated/events
  kDetectPii,        // free text: e-mail, phone, IBAN, card numbers (Luhn) -> <EMAIL> ...
};
Result<MaskOp> ParseMaskOp(std::string_view name);
const char* MaskOpName(MaskOp op);

struct MaskRule {
  std::string column;
  MaskOp op = MaskOp::kRedact;
  std::string with;           // kReplace
  uint32_t keep_first = 0;    // kPartial
  uint32_t keep_last = 4;     // kPartial
  std::string unit = "hour";  // kTruncateTime: second, minute, hour, day
  uint32_t ipv4_prefix = 24;
  uint32_t ipv6_prefix = 48;
  double grid_m = 1000;    // kCoarsenLocation
  std::string lon_column;  // kCoarsenLocation: the longitude partner of `column` (latitude)
};

struct MaskingConfig {
  // Pseudonym key: a file holding the key bytes, or an environment variable.
  std::string key_file;
  std::string key_env;
  // With key_file: create the file with 32 random bytes (mode 0600) when it is
  // missing. For demos and first runs; production keys are provisioned.
  bool create_key = false;
  std::string key_id = "default";  // recorded in curated/events as `_key_id`
  std::vector<MaskRule> rules;
};

inline constexpr std::chrono::milliseconds kDefaultWindow{60'000};

struct AggregateConfig {
  bool enabled = false;
  std::string poi_file;  // CSV (id,name,lat,lon,radius_m,category) or GeoJSON
  double default_radius_m = 100;
  std::chrono::milliseconds window = kDefaultWindow;
  std::chrono::milliseconds allowed_lateness{5'000};
  // A window also closes when no event arrived for this long (0: only event time closes windows).
  std::chrono::milliseconds idle_close{0};
  std::vector<int> age_bands = {18, 25, 35, 45, 55, 65};  // lower bounds; below the first: "0-17"
  // Curated columns (after flattening) the aggregate reads. `person` is read
  // after masking and must be pseudonymised or hashed.
  std::string time_column = "ts";
  std::string lat_column = "lat";
  std::string lon_column = "lon";
  std::string age_column = "age";
  std::string gender_column = "gender";
  std::string person_column = "user_id";
  // Bounded memory: windows open at once (the oldest is emitted early when a
  // new one would exceed it) and distinct persons tracked per window (more
  // persons still count as events; the row's persons is then a lower bound
  // and inlet_process_persons_overflow_total counts them).
  uint32_t max_open_windows = 64;
  uint64_t max_persons_per_window = 1'000'000;
  std::string location = "curated/poi_presence/";
};

struct AutoscaleConfig {
  uint32_t min_workers = 1;
  uint32_t max_workers = 4;
  uint64_t target_backlog_per_worker = 10'000;
  std::chrono::milliseconds scale_out_cooldown{10'000};
  std::chrono::milliseconds scale_in_cooldown{60'000};
  std::chrono::milliseconds evaluation_interval{1'000};
};

struct ProcessorConfig {
  std::string name;          // [A-Za-z0-9_.-]+
  std::string subscription;  // the queue subscription it consumes
  // Set by `inlet process` when this instance handles one partition of a
  // partitioned subscription: its state, snapshots and files then carry
  // ".p<N>", and its window rows are that partition's share of the counts.
  std::optional<uint32_t> partition;
  // Where outputs are staged before the lake takes them ("" : the lake's
  // _staging folder on local disk, else a folder of the system's temp dir).
  std::filesystem::path staging_dir;
  // Set with `partition`: asked right before each commit point; false (the
  // partition's lease may have passed to another process) fails the commit.
  std::function<bool()> may_commit;
  std::string StateName() const {
    return partition ? name + ".p" + std::to_string(*partition) : name;
  }
  std::string table;  // qualified table name (tables:) for validation
  uint64_t max_event_bytes = 1ull << 20;
  // Per category; a category absent here is stored (never dropped).
  std::map<ErrorCategory, ErrorAction> error_actions;
  std::string errors_topic;  // where notify actions publish ("" when none notify)
  std::string errors_location = "errors/";
  std::vector<FieldMapping> mapping;
  MaskingConfig masking;
  AggregateConfig aggregate;
  std::string events_location = "curated/events/";
  bool write_events = true;
  AutoscaleConfig autoscale;
  // A batch is one commit and one curated events file: large batches under load
  // (a fetch returns what is there, so small ones when the rate is low).
  uint32_t fetch_max_messages = 10000;
  std::chrono::milliseconds fetch_wait{200};
  // After its first message, a worker keeps fetching for up to this long to
  // fill its batch to fetch_max_messages (0: a batch is what one fetch returns).
  std::chrono::milliseconds batch_linger{250};
};

struct ProcessConfig {
  std::vector<ProcessorConfig> processors;
};

// Checks a processor's own settings (names, ranges, operators against the
// mapping); references to subscriptions and tables are checked by the loader.
Status ValidateProcessorConfig(const ProcessorConfig& config);

}  // namespace inlet::process
