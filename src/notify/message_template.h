// MessageTemplate: the subject and body templates of email notifications,
// parsed once at startup and rendered per event. `{{path}}` inserts a field
// of the event's JSON payload (`{{category}}`, `{{$.device.os}}`,
// `{{items[0].id}}`); `{{@name}}` inserts a property of the delivery
// (@subscription, @topic, @seq, @arrival, @event, @attributes, @attr.NAME,
// @key_id, @count, @more). Strings are inserted as they are, other JSON
// values as compact JSON, missing fields as "". Immutable once parsed,
// so a template can be rendered by several threads.
#pragma once

#include <simdjson.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bus/message.h"
#include "common/status.h"

namespace inlet::notify {

// One event's payload parsed once, for every template rendered from it.
// Owns its parser; not thread-safe.
class ParsedEvent {
 public:
  explicit ParsedEvent(const bus::Message& message);
  const bus::Message& message() const { return *message_; }
  // The payload's root, or nullptr when the payload is not valid JSON.
  const simdjson::dom::element* root() const { return ok_ ? &root_ : nullptr; }
  // The payload as compact JSON (the raw bytes when it is not valid JSON).
  std::string Compact() const;

 private:
  const bus::Message* message_;
  std::unique_ptr<simdjson::dom::parser> parser_;
  simdjson::dom::element root_;
  bool ok_ = false;
};

// What a template can refer to besides the event itself.
struct TemplateContext {
  const ParsedEvent* event = nullptr;  // may be null (no event: fields render as "")
  std::string_view subscription;
  std::string_view topic;
  size_t count = 1;  // events in this notification
  size_t more = 0;   // events counted but not listed (digest overflow)
};

class MessageTemplate {
 public:
  // Fails with kInvalidArgument on an unclosed `{{`, an empty or malformed
  // path, or an unknown @name.
  static Result<MessageTemplate> Parse(std::string_view text);

  std::string Render(const TemplateContext& context) const;
  const std::string& source() const { return source_; }

 private:
  enum class PartKind {
    kLiteral,
    kField,
    kSubscription,
    kTopic,
    kSeq,
    kArrival,
    kEvent,
    kAttributes,
    kAttribute,
    kKeyId,
    kCount,
    kMore
  };
  struct Step {
    std::string key;  // object key, or "" for an array index
    size_t index = 0;
  };
  struct Part {
    PartKind kind = PartKind::kLiteral;
    std::string text;        // literal text, or the attribute name
    std::vector<Step> path;  // kField
  };

  std::string source_;
  std::vector<Part> parts_;
};

// "2024-05-01T12:00:00.123Z" from microseconds since the epoch.
std::string FormatRfc3339(int64_t micros);

}  // namespace inlet::notify
