// SNS message attributes: the JSON a producer sends with an event, in the
// Publish API form {"name": {"DataType": "String", "StringValue": "v"}} or the
// notification form {"name": {"Type": "String", "Value": "v"}}. A reader owns
// its parse buffers and is reused across messages; not thread-safe (one per
// thread). The views it returns stay valid until its next Read().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace inlet::bus {

enum class AttributeType : uint8_t {
  kString,       // "String" and custom "String.<label>" types
  kNumber,       // "Number" and "Number.<label>"
  kStringArray,  // "String.Array": the value is a JSON array as text
  kBinary,       // "Binary*": never compared by filter policies
};

struct MessageAttribute {
  std::string_view name;
  AttributeType type = AttributeType::kString;
  std::string_view data_type;  // the type as sent, e.g. "Number.float"
  std::string_view value;      // StringValue / Value (BinaryValue for Binary)
};

class MessageAttributesReader {
 public:
  MessageAttributesReader();
  ~MessageAttributesReader();
  MessageAttributesReader(const MessageAttributesReader&) = delete;
  MessageAttributesReader& operator=(const MessageAttributesReader&) = delete;

  // Parses `json` ("" and "{}" mean no attributes) into `out` (cleared first).
  // Strict mode returns kInvalidArgument naming the attribute at fault for a
  // malformed entry: unknown type, missing value, a Number that is not a
  // number, a String.Array that is not a JSON array. Lenient mode (the bus, on stored data) skips
  // malformed entries and fails only when `json` is not a JSON object.
  Status Read(std::string_view json, bool strict, std::vector<MessageAttribute>* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses a JSON number written as text ("3.015e2", "-7"); false if `text` is
// not entirely one finite number.
bool ParseNumberText(std::string_view text, double* value);

}  // namespace inlet::bus
