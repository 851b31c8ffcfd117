// Turns the body of a publish request into events: decodes the
// Content-Encoding (gzip, zstd) within a size limit, splits a JSON object, a
// JSON array of objects or NDJSON into events, and checks each is one
// well-formed JSON object (valid UTF-8, bounded depth) within the event size
// limit. Events keep their exact bytes (array elements are sliced from the
// body, not re-serialised). Not thread-safe: one parser per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace inlet::ingest {

enum class BodyFormat { kJson, kNdjson };

struct BodyLimits {
  uint64_t max_event_bytes = 1ull << 20;
  uint64_t max_body_bytes = 16ull << 20;  // decoded
  uint32_t max_events = 10000;
  // JSON pointer ("/user_id") of the field that picks an event's partition;
  // empty: no partition hashes are computed.
  std::string partition_pointer;
};

struct RejectedEvent {
  size_t index;          // position in the request, from 0
  std::string category;  // malformed_json, not_an_object, too_large, ...
  std::string message;
};

struct ParsedBody {
  std::vector<std::string_view> events;  // views into the decoded body
  std::vector<size_t> indexes;           // request position of each accepted event
  // With BodyLimits::partition_pointer: per accepted event, CRC-32C of the
  // field's value (a string's content, any other value's JSON text), or of
  // the whole event when the field is missing.
  std::vector<uint32_t> partition_hashes;
  std::vector<RejectedEvent> rejected;
};

// Why a whole request is refused; maps to an HTTP status.
enum class BodyError {
  kNone,
  kNotJson,
  kTooLarge,
  kTooManyEvents,
  kBadEncoding,
  kUnsupportedEncoding,
  kEmpty
};

class BodyParser {
 public:
  BodyParser();
  ~BodyParser();

  // Content-Type to format; kUnsupported for anything but JSON and NDJSON.
  static Result<BodyFormat> FormatOf(std::string_view content_type);

  // Decodes `body` per `content_encoding` ("", "identity", "gzip", "zstd")
  // into an internal buffer. On failure sets *error and returns its message.
  Status Decode(std::string&& body, std::string_view content_encoding, const BodyLimits& limits,
                BodyError* error);
  // Splits and checks the decoded body. The returned views live until the
  // next Decode.
  Status Parse(BodyFormat format, const BodyLimits& limits, ParsedBody* out, BodyError* error);
  // After a failed Parse of a single object: its category (malformed_json,
  // too_deep, invalid_utf8, not_an_object, too_large).
  const std::string& error_category() const { return error_category_; }
  // NDJSON bodies are checked in one pass when every line is an object, and
  // line by line otherwise (or when off): for tests, which compare the two.
  void set_ndjson_one_pass(bool on);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string error_category_;
};

}  // namespace inlet::ingest
