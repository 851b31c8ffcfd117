// PolicyInput: one message made ready for filter-policy evaluation. It is
// built once per message and then evaluated against every policy of the
// topic without parsing anything again: the attributes and the JSON body are
// flattened (lazily, on first use by a policy of that scope) into leaf fields
// keyed by their dotted path, each remembering which array elements it came
// from so that a policy never combines fields of different elements of one
// array. Reused across messages, it stops allocating once its buffers have
// grown. Not thread-safe (keep one per thread), even for const use.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace inlet::bus {

// What a filter policy looks at, as SNS's FilterPolicyScope.
enum class PolicyScope : uint8_t { kMessageAttributes, kMessageBody };

// "MessageAttributes" or "MessageBody" (case-sensitive, as SNS).
Result<PolicyScope> ParsePolicyScope(std::string_view text);
const char* PolicyScopeName(PolicyScope scope);

enum class FieldKind : uint8_t { kString, kNumber, kTrue, kFalse, kNull };

// Position inside one array instance of the message (ids are per message).
struct ArrayPos {
  uint32_t array_id;
  uint32_t index;
};

// A leaf value of the message. Offsets point into the owning FlatFields.
struct FlatField {
  uint64_t path_hash = 0;
  uint32_t path_offset = 0;
  uint32_t path_length = 0;
  uint32_t text_offset = 0;  // unescaped string value (kString only)
  uint32_t text_length = 0;
  uint32_t trail_offset = 0;  // array positions, outermost first
  uint32_t trail_length = 0;
  FieldKind kind = FieldKind::kNull;
  double number = 0;  // kNumber only
};

// The leaf fields of one scope of a message, sorted by path hash.
class FlatFields {
 public:
  // False when policies of this scope cannot match anything but the empty
  // policy: the body is not a JSON object, or the message has no attributes
  // (SNS: `exists: false` needs at least one attribute to be present).
  bool usable() const { return usable_; }
  // True when some field came from an array (consistency checks needed).
  bool has_arrays() const { return has_arrays_; }

  // The fields whose path hash equals `hash` (compare paths with PathOf).
  std::span<const FlatField> Candidates(uint64_t hash) const;
  std::string_view PathOf(const FlatField& f) const {
    return std::string_view(text_).substr(f.path_offset, f.path_length);
  }
  std::string_view TextOf(const FlatField& f) const {
    return std::string_view(text_).substr(f.text_offset, f.text_length);
  }
  std::span<const ArrayPos> TrailOf(const FlatField& f) const {
    return std::span<const ArrayPos>(trails_).subspan(f.trail_offset, f.trail_length);
  }
  size_t size() const { return fields_.size(); }

 private:
  friend class PolicyInput;
  friend class FieldBuilder;
  void Clear();
  void Finish();  // sorts by hash

  std::vector<FlatField> fields_;
  std::string text_;  // paths and string values
  std::vector<ArrayPos> trails_;
  bool usable_ = false;
  bool has_arrays_ = false;
};

class PolicyInput {
 public:
  PolicyInput();
  ~PolicyInput();
  PolicyInput(PolicyInput&&) noexcept;
  PolicyInput& operator=(PolicyInput&&) noexcept;

  // Starts a new message: `attributes_json` in the SNS Publish form (see
  // bus/message_attributes.h; "" when none) and the JSON payload. Nothing is
  // parsed yet. REQUIRES: both strings stay alive and unchanged until the
  // next Reset (the bus passes a Message's own strings).
  void Reset(std::string_view attributes_json, std::string_view body_json);

  // The flattened fields of `scope`, built on first call after Reset.
  const FlatFields& Fields(PolicyScope scope) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The hash used for field paths; policies hash their keys the same way.
inline uint64_t PathHashStart() { return 1469598103934665603ull; }
inline uint64_t PathHashAppend(uint64_t hash, std::string_view bytes) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}
inline uint64_t PathHash(std::string_view path) { return PathHashAppend(PathHashStart(), path); }

}  // namespace inlet::bus
