#include "notify/message_template.h"

#include <fmt/format.h>

#include <ctime>

namespace inlet::notify {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string ValueText(simdjson::dom::element e) {
  if (e.is_string()) return std::string(std::string_view(e.get_string().value()));
  return simdjson::minify(e);
}

}  // namespace

ParsedEvent::ParsedEvent(const bus::Message& message)
    : message_(&message), parser_(std::make_unique<simdjson::dom::parser>()) {
  auto r = parser_->parse(message.payload);
  if (r.error() == simdjson::SUCCESS) {
    root_ = r.value_unsafe();
    ok_ = true;
  }
}

std::string ParsedEvent::Compact() const {
  return ok_ ? simdjson::minify(root_) : message_->payload;
}

std::string FormatRfc3339(int64_t micros) {
  time_t secs = static_cast<time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (micros % 1000000) / 1000);
}

Result<MessageTemplate> MessageTemplate::Parse(std::string_view text) {
  MessageTemplate t;
  t.source_ = std::string(text);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) {
      t.parts_.push_back({PartKind::kLiteral, std::string(text.substr(pos)), {}});
      break;
    }
    if (open > pos)
      t.parts_.push_back({PartKind::kLiteral, std::string(text.substr(pos, open - pos)), {}});
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return Status::InvalidArgument(
          fmt::format("template: '{{{{' at offset {} is never closed by '}}}}'", open));
    }
    std::string_view expr = Trim(text.substr(open + 2, close - open - 2));
    pos = close + 2;
    if (expr.empty()) return Status::InvalidArgument("template: empty '{{}}'");
    Part part;
    if (expr.front() == '@') {
      static const std::pair<std::string_view, PartKind> kNames[] = {
          {"@subscription", PartKind::kSubscription},
          {"@topic", PartKind::kTopic},
          {"@seq", PartKind::kSeq},
          {"@arrival", PartKind::kArrival},
          {"@event", PartKind::kEvent},
          {"@attributes", PartKind::kAttributes},
          {"@key_id", PartKind::kKeyId},
          {"@count", PartKind::kCount},
          {"@more", PartKind::kMore}};
      bool found = false;
      for (const auto& [name, kind] : kNames) {
        if (expr == name) {
          part.kind = kind;
          found = true;
        }
      }
      if (!found && expr.rfind("@attr.", 0) == 0 && expr.size() > 6) {
        part.kind = PartKind::kAttribute;
        part.text = std::string(expr.substr(6));
        found = true;
      }
      if (!found) {
        return Status::InvalidArgument(fmt::format(
            "template: unknown '{{{{{}}}}}' (known: @subscription, @topic, @seq, @arrival, @event, "
            "@attributes, @attr.NAME, @key_id, @count, @more)",
            expr));
      }
      t.parts_.push_back(std::move(part));
      continue;
    }
    // A field path: [$][.]key(.key|[n])*
    part.kind = PartKind::kField;
    std::string_view p = expr;
    if (p.front() == '$') p.remove_prefix(1);
    if (!p.empty() && p.front() == '.') p.remove_prefix(1);
    while (!p.empty()) {
      if (p.front() == '[') {
        size_t end = p.find(']');
        if (end == std::string_view::npos) {
          return Status::InvalidArgument(
              fmt::format("template: '[' without ']' in '{{{{{}}}}}'", expr));
        }
        std::string_view inner = p.substr(1, end - 1);
        Step step;
        if (inner.size() >= 2 && (inner.front() == '\'' || inner.front() == '"') &&
            inner.back() == inner.front()) {
          step.key = std::string(inner.substr(1, inner.size() - 2));
        } else {
          if (inner.empty() || inner.find_first_not_of("0123456789") != std::string_view::npos) {
            return Status::InvalidArgument(
                fmt::format("template: '[{}]' in '{{{{{}}}}}' is neither an index nor a quoted key",
                            inner, expr));
          }
          step.index = std::stoul(std::string(inner));
        }
        part.path.push_back(std::move(step));
        p.remove_prefix(end + 1);
        if (!p.empty() && p.front() == '.') p.remove_prefix(1);
        continue;
      }
      size_t end = p.find_first_of(".[");
      std::string_view key = p.substr(0, end);
      if (key.empty())
        return Status::InvalidArgument(fmt::format("template: empty key in '{{{{{}}}}}'", expr));
      part.path.push_back({std::string(key), 0});
      p.remove_prefix(end == std::string_view::npos ? p.size() : end);
      if (!p.empty() && p.front() == '.') {
        p.remove_prefix(1);
        if (p.empty())
          return Status::InvalidArgument(
              fmt::format("template: trailing '.' in '{{{{{}}}}}'", expr));
      }
    }
    if (part.path.empty())
      return Status::InvalidArgument(fmt::format("template: empty path in '{{{{{}}}}}'", expr));
    t.parts_.push_back(std::move(part));
  }
  return t;
}

std::string MessageTemplate::Render(const TemplateContext& c) const {
  std::string out;
  const bus::Message* m = c.event ? &c.event->message() : nullptr;
  for (const Part& part : parts_) {
    switch (part.kind) {
      case PartKind::kLiteral:
        out += part.text;
        break;
      case PartKind::kSubscription:
        out += c.subscription;
        break;
      case PartKind::kTopic:
        out += c.topic;
        break;
      case PartKind::kSeq:
        if (m) out += std::to_string(m->seq);
        break;
      case PartKind::kArrival:
        if (m) out += FormatRfc3339(m->arrival_us);
        break;
      case PartKind::kEvent:
        if (c.event) out += c.event->Compact();
        break;
      case PartKind::kAttributes:
        if (m) out += m->attributes.empty() ? "{}" : m->attributes;
        break;
      case PartKind::kKeyId:
        if (m) out += m->key_id;
        break;
      case PartKind::kCount:
        out += std::to_string(c.count);
        break;
      case PartKind::kMore:
        out += std::to_string(c.more);
        break;
      case PartKind::kAttribute: {
        if (!m || m->attributes.empty()) break;
        simdjson::dom::parser parser;
        simdjson::dom::element attrs;
        if (parser.parse(m->attributes).get(attrs) != simdjson::SUCCESS) break;
        simdjson::dom::element attr;
        if (attrs[part.text].get(attr) != simdjson::SUCCESS) break;
        simdjson::dom::element value;
        if (attr["StringValue"].get(value) == simdjson::SUCCESS) out += ValueText(value);
        break;
      }
      case PartKind::kField: {
        if (!c.event || !c.event->root()) break;
        simdjson::dom::element e = *c.event->root();
        bool found = true;
        for (const Step& step : part.path) {
          simdjson::error_code err;
          if (!step.key.empty()) {
            err = e.is_object() ? e.get_object().value_unsafe().at_key(step.key).get(e)
                                : simdjson::NO_SUCH_FIELD;
          } else {
            err = e.is_array() ? e.get_array().value_unsafe().at(step.index).get(e)
                               : simdjson::INDEX_OUT_OF_BOUNDS;
          }
          if (err != simdjson::SUCCESS) {
            found = false;
            break;
          }
        }
        if (found) out += ValueText(e);
        break;
      }
    }
  }
  return out;
}

}  // namespace inlet::notify
