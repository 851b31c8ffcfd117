#include "bus/filter_input.h"

#include <algorithm>

#include "bus/filter_json.h"
#include "bus/message_attributes.h"

namespace inlet::bus {

using simdjson::dom::element;
using simdjson::dom::element_type;

Result<PolicyScope> ParsePolicyScope(std::string_view text) {
  if (text == "MessageAttributes") return PolicyScope::kMessageAttributes;
  if (text == "MessageBody") return PolicyScope::kMessageBody;
  return Status::InvalidArgument(
      "filter policy scope must be MessageAttributes or MessageBody, not \"" + std::string(text) +
      "\"");
}

const char* PolicyScopeName(PolicyScope scope) {
  return scope == PolicyScope::kMessageBody ? "MessageBody" : "MessageAttributes";
}

void FlatFields::Clear() {
  fields_.clear();
  text_.clear();
  trails_.clear();
  usable_ = false;
  has_arrays_ = false;
}

void FlatFields::Finish() {
  std::sort(fields_.begin(), fields_.end(),
            [](const FlatField& a, const FlatField& b) { return a.path_hash < b.path_hash; });
}

std::span<const FlatField> FlatFields::Candidates(uint64_t hash) const {
  auto lo = std::lower_bound(fields_.begin(), fields_.end(), hash,
                             [](const FlatField& f, uint64_t h) { return f.path_hash < h; });
  auto hi = lo;
  while (hi != fields_.end() && hi->path_hash == hash) ++hi;
  return std::span<const FlatField>(fields_.data() + (lo - fields_.begin()),
                                    static_cast<size_t>(hi - lo));
}

// Appends leaf fields to a FlatFields; tracks the current path and the array
// positions that lead to it.
class FieldBuilder {
 public:
  explicit FieldBuilder(FlatFields* out) : out_(out) {}

  // Flattens the members of a JSON object (the body root).
  void WalkObject(simdjson::dom::object object) {
    for (auto [key, value] : object) Member(key, value);
  }

  // A leaf under `path` with no array above it (an attribute), or inside the
  // given array instance (a String.Array element).
  void Leaf(std::string_view path, element value, const ArrayPos* pos) {
    path_.assign(path);
    hash_ = PathHash(path);
    if (pos) trail_.push_back(*pos);
    Scalar(value);
    trail_.clear();
  }
  void StringLeaf(std::string_view path, std::string_view text) {
    Emit(path, PathHash(path), FieldKind::kString, text, 0);
  }
  void NumberLeaf(std::string_view path, double number) {
    Emit(path, PathHash(path), FieldKind::kNumber, {}, number);
  }
  uint32_t NewArrayId() {
    out_->has_arrays_ = true;
    return next_array_id_++;
  }

 private:
  void Member(std::string_view key, element value) {
    const size_t saved_length = path_.size();
    const uint64_t saved_hash = hash_;
    if (!path_.empty()) {
      path_.push_back('.');
      hash_ = PathHashAppend(hash_, ".");
    }
    path_.append(key);
    hash_ = PathHashAppend(hash_, key);
    Value(value);
    path_.resize(saved_length);
    hash_ = saved_hash;
  }

  void Value(element value) {
    switch (value.type()) {
      case element_type::OBJECT: {
        simdjson::dom::object object = value.get_object().value_unsafe();
        for (auto [key, member] : object) Member(key, member);
        break;
      }
      case element_type::ARRAY: {
        auto array = value.get_array().value_unsafe();
        if (array.size() == 0) break;
        const uint32_t id = NewArrayId();
        uint32_t index = 0;
        for (element item : array) {
          trail_.push_back({id, index++});
          Value(item);
          trail_.pop_back();
        }
        break;
      }
      default:
        Scalar(value);
    }
  }

  void Scalar(element value) {
    switch (value.type()) {
      case element_type::STRING:
        Emit(path_, hash_, FieldKind::kString, value.get_string().value_unsafe(), 0);
        break;
      case element_type::INT64:
      case element_type::UINT64:
      case element_type::DOUBLE:
        Emit(path_, hash_, FieldKind::kNumber, {}, value.get_double().value_unsafe());
        break;
      case element_type::BOOL:
        Emit(path_, hash_, value.get_bool().value_unsafe() ? FieldKind::kTrue : FieldKind::kFalse,
             {}, 0);
        break;
      case element_type::NULL_VALUE:
        Emit(path_, hash_, FieldKind::kNull, {}, 0);
        break;
      default:  // nested containers inside a String.Array element are ignored
        break;
    }
  }

  void Emit(std::string_view path, uint64_t hash, FieldKind kind, std::string_view text,
            double number) {
    FlatField field;
    field.path_hash = hash;
    field.kind = kind;
    field.number = number;
    field.path_offset = static_cast<uint32_t>(out_->text_.size());
    field.path_length = static_cast<uint32_t>(path.size());
    out_->text_.append(path);
    field.text_offset = static_cast<uint32_t>(out_->text_.size());
    field.text_length = static_cast<uint32_t>(text.size());
    out_->text_.append(text);
    field.trail_offset = static_cast<uint32_t>(out_->trails_.size());
    field.trail_length = static_cast<uint32_t>(trail_.size());
    out_->trails_.insert(out_->trails_.end(), trail_.begin(), trail_.end());
    out_->fields_.push_back(field);
  }

  FlatFields* out_;
  std::string path_;
  uint64_t hash_ = PathHashStart();
  std::vector<ArrayPos> trail_;
  uint32_t next_array_id_ = 0;
};

struct PolicyInput::Impl {
  std::string_view attributes_json;
  std::string_view body_json;
  bool built[2] = {false, false};
  FlatFields fields[2];
  filter_internal::PaddedParser body_parser;
  filter_internal::PaddedParser array_parser;
  MessageAttributesReader attributes_reader;
  std::vector<MessageAttribute> attributes;

  void BuildBody(FlatFields* out) {
    element root;
    if (body_parser.Parse(body_json, &root) || !root.is_object()) return;  // never matches
    out->usable_ = true;
    FieldBuilder builder(out);
    builder.WalkObject(root.get_object().value_unsafe());
  }

  void BuildAttributes(FlatFields* out) {
    if (!attributes_reader.Read(attributes_json, /*strict=*/false, &attributes).ok()) return;
    out->usable_ = !attributes.empty();
    FieldBuilder builder(out);
    for (const MessageAttribute& attribute : attributes) {
      switch (attribute.type) {
        case AttributeType::kString:
          builder.StringLeaf(attribute.name, attribute.value);
          break;
        case AttributeType::kNumber: {
          double number;
          if (ParseNumberText(attribute.value, &number)) {
            builder.NumberLeaf(attribute.name, number);
          } else {
            builder.StringLeaf(attribute.name, attribute.value);
          }
          break;
        }
        case AttributeType::kStringArray: {
          // A value that is not a JSON array matches nothing (as SNS).
          element array;
          if (array_parser.Parse(attribute.value, &array) || !array.is_array()) break;
          const uint32_t id = builder.NewArrayId();
          uint32_t index = 0;
          simdjson::dom::array items = array.get_array().value_unsafe();
          for (element item : items) {
            ArrayPos pos{id, index++};
            builder.Leaf(attribute.name, item, &pos);
          }
          break;
        }
        case AttributeType::kBinary:
          break;
      }
    }
  }
};

PolicyInput::PolicyInput() : impl_(std::make_unique<Impl>()) {}
PolicyInput::~PolicyInput() = default;
PolicyInput::PolicyInput(PolicyInput&&) noexcept = default;
PolicyInput& PolicyInput::operator=(PolicyInput&&) noexcept = default;

void PolicyInput::Reset(std::string_view attributes_json, std::string_view body_json) {
  impl_->attributes_json = attributes_json;
  impl_->body_json = body_json;
  impl_->built[0] = impl_->built[1] = false;
}

const FlatFields& PolicyInput::Fields(PolicyScope scope) const {
  const int i = static_cast<int>(scope);
  FlatFields& fields = impl_->fields[i];
  if (!impl_->built[i]) {
    fields.Clear();
    if (scope == PolicyScope::kMessageBody) {
      impl_->BuildBody(&fields);
    } else {
      impl_->BuildAttributes(&fields);
    }
    fields.Finish();
    impl_->built[i] = true;
  }
  return fields;
}

}  // namespace inlet::bus
