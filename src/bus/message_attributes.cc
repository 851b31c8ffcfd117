#include "bus/message_attributes.h"

#include <charconv>
#include <cmath>
#include <string>

#include "bus/filter_json.h"

namespace inlet::bus {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

bool ClassifyType(std::string_view type, AttributeType* out) {
  auto is_family = [&](std::string_view family) {
    return type == family ||
           (type.size() > family.size() + 1 && type.substr(0, family.size()) == family &&
            type[family.size()] == '.');
  };
  if (type == "String.Array") {
    *out = AttributeType::kStringArray;
  } else if (is_family("String")) {
    *out = AttributeType::kString;
  } else if (is_family("Number")) {
    *out = AttributeType::kNumber;
  } else if (is_family("Binary")) {
    *out = AttributeType::kBinary;
  } else {
    return false;
  }
  return true;
}

// The first of `names` present in `object`, or an error element.
simdjson::simdjson_result<element> Member(simdjson::dom::object object,
                                          std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    auto value = object[name];
    if (!value.error()) return value;
  }
  return simdjson::NO_SUCH_FIELD;
}

}  // namespace

bool ParseNumberText(std::string_view text, double* value) {
  if (text.empty()) return false;
  const char* begin = text.data();
  const char* end = begin + text.size();
  if (*begin == '+') return false;
  auto [ptr, ec] = std::from_chars(begin, end, *value, std::chars_format::general);
  return ec == std::errc() && ptr == end && std::isfinite(*value);
}

struct MessageAttributesReader::Impl {
  filter_internal::PaddedParser parser;
  filter_internal::PaddedParser array_parser;  // validates String.Array values
  std::string number_text;                     // values sent as JSON numbers
};

MessageAttributesReader::MessageAttributesReader() : impl_(std::make_unique<Impl>()) {}
MessageAttributesReader::~MessageAttributesReader() = default;

Status MessageAttributesReader::Read(std::string_view json, bool strict,
                                     std::vector<MessageAttribute>* out) {
  out->clear();
  impl_->number_text.clear();
  size_t first = json.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return Status::Ok();

  element root;
  if (auto error = impl_->parser.Parse(json, &root); error) {
    return Status::InvalidArgument(std::string("message attributes are not valid JSON: ") +
                                   simdjson::error_message(error));
  }
  simdjson::dom::object object;
  if (root.get_object().get(object)) {
    return Status::InvalidArgument("message attributes must be a JSON object of attributes");
  }
  // Values sent as JSON numbers are printed into number_text; record where,
  // and point the views at it once it no longer grows.
  struct NumberRef {
    size_t index, offset, length;
  };
  std::vector<NumberRef> number_refs;

  for (auto member : object) {
    const std::string_view name = member.key;
    const element spec = member.value;
    auto fail = [&](const std::string& why) -> Status {
      return Status::InvalidArgument("message attribute \"" + std::string(name) + "\": " + why);
    };
    if (name.empty()) {
      if (strict) return Status::InvalidArgument("message attribute with an empty name");
      continue;
    }
    simdjson::dom::object fields;
    if (spec.get_object().get(fields)) {
      if (strict) return fail("must be an object with DataType and StringValue");
      continue;
    }
    std::string_view type_text;
    if (Member(fields, {"DataType", "Type"}).get_string().get(type_text)) {
      if (strict) return fail("DataType is missing or not a string");
      continue;
    }
    MessageAttribute attribute;
    attribute.name = name;
    attribute.data_type = type_text;
    if (!ClassifyType(type_text, &attribute.type)) {
      if (strict) {
        return fail("unsupported DataType \"" + std::string(type_text) +
                    "\" (String, Number, String.Array or Binary)");
      }
      continue;
    }
    auto value = attribute.type == AttributeType::kBinary
                     ? Member(fields, {"BinaryValue", "Value"})
                     : Member(fields, {"StringValue", "Value"});
    element value_element;
    if (value.get(value_element)) {
      if (strict) return fail("StringValue is missing");
      continue;
    }
    bool number_ref = false;
    if (value_element.is_string()) {
      attribute.value = value_element.get_string().value_unsafe();
    } else if (value_element.is_number() && attribute.type == AttributeType::kNumber) {
      // The notification form sometimes carries Number values as JSON numbers.
      std::string printed = simdjson::to_string(value_element);
      number_refs.push_back({out->size(), impl_->number_text.size(), printed.size()});
      impl_->number_text += printed;
      number_ref = true;
    } else {
      if (strict) return fail("StringValue must be a string");
      continue;
    }
    if (strict) {
      double number;
      if (attribute.type == AttributeType::kNumber && !number_ref &&
          !ParseNumberText(attribute.value, &number)) {
        return fail("Number value \"" + std::string(attribute.value) + "\" is not a number");
      }
      if (attribute.type == AttributeType::kStringArray) {
        element array;
        if (impl_->array_parser.Parse(attribute.value, &array) || !array.is_array()) {
          return fail("String.Array value is not a JSON array");
        }
      }
    }
    out->push_back(attribute);
  }
  for (const NumberRef& ref : number_refs) {
    (*out)[ref.index].value = std::string_view(impl_->number_text).substr(ref.offset, ref.length);
  }
  return Status::Ok();
}

}  // namespace inlet::bus
