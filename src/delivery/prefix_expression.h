// Firehose-style S3 prefix expressions: literal text with `!{timestamp:FMT}`
// (Java DateTimeFormatter letters, UTC), `!{partitionKeyFromQuery:name}`,
// `!{firehose:random-string}` and `!{firehose:error-output-type}`. Parsed and
// validated once; evaluated per record. Immutable after Parse; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace inlet::delivery {

enum class PrefixRole {
  kData,   // the data prefix: partitionKeyFromQuery allowed, error-output-type not
  kError,  // the error prefix: error-output-type allowed, partitionKeyFromQuery not
};

struct PrefixValues {
  int64_t time_us = 0;                             // for !{timestamp:..}
  const std::vector<std::string>* keys = nullptr;  // by partition-key index
  std::string_view random_string;                  // for !{firehose:random-string}
  std::string_view error_output_type;              // for !{firehose:error-output-type}
};

class PrefixExpression {
 public:
  // `key_names` are the partition keys the stream declares; a
  // partitionKeyFromQuery naming another key is an error. Errors quote the
  // expression and the offset of the fault.
  static Result<PrefixExpression> Parse(std::string_view text, PrefixRole role,
                                        const std::vector<std::string>& key_names);

  // Appends the expanded prefix to *out. Key values are percent-encoded
  // where they are not [A-Za-z0-9._-] so that a value cannot add a '/'.
  void Evaluate(const PrefixValues& values, std::string* out) const;

  const std::string& text() const { return text_; }
  bool uses_partition_keys() const { return uses_keys_; }
  bool uses_random_string() const { return uses_random_; }
  bool uses_timestamp() const { return uses_time_; }
  // True when the expansion can differ within one second of time (fractions).
  bool uses_subsecond() const { return uses_subsecond_; }

  struct TimeToken {
    char letter = 0;  // 0 for a literal
    int count = 0;
    std::string literal;
  };
  struct Segment {
    enum class Kind { kLiteral, kTimestamp, kPartitionKey, kRandomString, kErrorOutputType };
    Kind kind = Kind::kLiteral;
    std::string literal;
    std::vector<TimeToken> time;
    int key_index = -1;
  };

 private:
  std::string text_;
  std::vector<Segment> segments_;
  bool uses_keys_ = false;
  bool uses_random_ = false;
  bool uses_time_ = false;
  bool uses_subsecond_ = false;
};

// Percent-encodes a partition key value for use as one path segment.
std::string EncodePartitionValue(std::string_view value);

// Formats micros (UTC) with a timestamp pattern ("yyyy-MM-dd-HH-mm-ss").
// REQUIRES: the pattern is valid (see PrefixExpression::Parse).
std::string FormatTimestamp(std::string_view pattern, int64_t micros_utc);

}  // namespace inlet::delivery
