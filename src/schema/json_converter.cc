#include "schema/json_converter.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "schema/time_util.h"

namespace inlet::schema {

namespace od = simdjson::ondemand;

namespace {

constexpr int kMaxDecimalDigits = 38;

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

const char* JsonTypeName(od::json_type t) {
  switch (t) {
    case od::json_type::array:
      return "an array";
    case od::json_type::object:
      return "an object";
    case od::json_type::number:
      return "a number";
    case od::json_type::string:
      return "a string";
    case od::json_type::boolean:
      return "a boolean";
    case od::json_type::null:
      return "null";
  }
  return "a value";
}

std::string Quote(std::string_view s) {
  constexpr size_t kMaxShown = 64;
  std::string out = "'";
  out.append(s.substr(0, kMaxShown));
  if (s.size() > kMaxShown) out += "...";
  return out + "'";
}

void AppendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 15]);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

enum class DecimalParse { kOk, kInvalid, kOverflow };

// Parses "-12.345e1" into an unscaled integer with `scale` fraction digits,
// rounding half away from zero, at most `precision` digits.
DecimalParse ParseDecimal(std::string_view s, int precision, int scale, Int128* out) {
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) negative = s[i++] == '-';
  std::string digits;  // significant digits, integer and fraction together
  int fraction_digits = 0;
  bool seen_digit = false, seen_point = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      seen_digit = true;
      if (!(digits.empty() && c == '0')) digits.push_back(c);
      if (seen_point) ++fraction_digits;
    } else if (c == '.' && !seen_point) {
      seen_point = true;
    } else {
      break;
    }
  }
  if (!seen_digit) return DecimalParse::kInvalid;
  int exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    auto [end, ec] = std::from_chars(s.data() + i + (i < s.size() && s[i] == '+'),
                                     s.data() + s.size(), exponent);
    if (ec != std::errc() || end != s.data() + s.size()) return DecimalParse::kInvalid;
    i = s.size();
  }
  if (i != s.size()) return DecimalParse::kInvalid;
  // value = digits * 10^(exponent - fraction_digits); we want value * 10^scale.
  int shift = exponent - fraction_digits + scale;
  if (digits.empty()) {
    *out = 0;
    return DecimalParse::kOk;
  }
  bool round_up = false;
  if (shift < 0) {
    int drop = -shift;
    if (drop > static_cast<int>(digits.size())) {
      digits.clear();
    } else {
      round_up = digits[digits.size() - drop] >= '5';
      digits.resize(digits.size() - drop);
    }
    shift = 0;
  }
  if (static_cast<int>(digits.size()) + shift > kMaxDecimalDigits) return DecimalParse::kOverflow;
  Int128 v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  for (int k = 0; k < shift; ++k) v *= 10;
  if (round_up) ++v;
  Int128 limit = 1;
  for (int k = 0; k < precision; ++k) limit *= 10;
  if (v >= limit) return DecimalParse::kOverflow;
  *out = negative ? -v : v;
  return DecimalParse::kOk;
}

bool ParseInt64Text(std::string_view text, int64_t* out, bool* out_of_range) {
  *out_of_range = false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  if (ec == std::errc() && end == text.data() + text.size()) return true;
  if (ec == std::errc::result_out_of_range) {
    *out_of_range = true;
    return false;
  }
  // 3.0, 1e3: integral values written as floats.
  double d = 0;
  auto [dend, dec] = std::from_chars(text.data(), text.data() + text.size(), d);
  if (dec != std::errc() || dend != text.data() + text.size() || !std::isfinite(d)) return false;
  if (d != std::floor(d)) return false;
  if (d < -9.2233720368547758e18 || d >= 9.2233720368547758e18) {
    *out_of_range = true;
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

const DataType kExtraType{};  // kString

}  // namespace

const char* ConversionErrorCodeName(ConversionErrorCode code) {
  switch (code) {
    case ConversionErrorCode::kMalformedJson:
      return "malformed_json";
    case ConversionErrorCode::kNotAnObject:
      return "not_an_object";
    case ConversionErrorCode::kMissingField:
      return "missing_field";
    case ConversionErrorCode::kTypeMismatch:
      return "type_mismatch";
    case ConversionErrorCode::kOutOfRange:
      return "out_of_range";
    case ConversionErrorCode::kInvalidFormat:
      return "invalid_format";
    case ConversionErrorCode::kDuplicateField:
      return "duplicate_field";
  }
  return "unknown";
}

std::string ConversionError::ToString() const {
  return std::string(ConversionErrorCodeName(code)) + " at " + path + ": " + message;
}

const DataType* RecordConverter::ExtraType() { return &kExtraType; }

int RecordConverter::Node::Find(std::string_view key, int hint) const {
  const int n = static_cast<int>(names.size());
  for (int k = 0; k < n; ++k) {
    int i = hint + k;
    if (i >= n) i -= n;
    const std::string& name = names[i];
    if (name.size() == key.size() && std::memcmp(name.data(), key.data(), key.size()) == 0)
      return i;
  }
  return -1;
}

int RecordConverter::Node::ScanRaw(const char* key, const char* end, int hint) const {
  const int n = static_cast<int>(raw.size());
  uint64_t word[2];
  std::memcpy(word, key, sizeof word);
  const size_t left = static_cast<size_t>(end - key);
  for (int k = 0; k < n; ++k) {
    int i = hint + k;
    if (i >= n) i -= n;
    const RawName& r = raw[i];
    // The raw key spells the name exactly when its bytes match and a quote
    // follows: a quote inside a key is escaped, and the name has no backslash.
    if (((word[0] & r.mask[0]) ^ r.head[0]) | ((word[1] & r.mask[1]) ^ r.head[1])) continue;
    if (!r.plain || left <= r.size) continue;
    if (r.size < sizeof word) return i;  // the quote was part of head
    if (key[r.size] == '"' &&
        std::memcmp(key + sizeof word, names[i].data() + sizeof word, r.size - sizeof word) == 0)
      return i;
  }
  return -1;
}

void RecordConverter::Node::AddName(std::string name) {
  RawName r;
  r.plain = name.find_first_of("\\\"") == std::string::npos;
  r.size = static_cast<uint32_t>(name.size());
  std::string with_quote = name + '"';
  char bytes[16] = {};
  const size_t used = std::min(with_quote.size(), sizeof bytes);
  std::memcpy(bytes, with_quote.data(), used);
  std::memcpy(r.head, bytes, sizeof bytes);  // little-endian, as FindRaw loads them
  for (size_t w = 0; w < 2; ++w) {
    const size_t in_word = used > 8 * w ? std::min<size_t>(used - 8 * w, 8) : 0;
    r.mask[w] = in_word == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * in_word)) - 1;
  }
  raw.push_back(r);
  names.push_back(std::move(name));
}

namespace {

RecordConverter::Node BuildNode(const DataType* type) {
  RecordConverter::Node node;
  node.type = type;
  switch (type->kind) {
    case TypeKind::kStruct:
      for (const Field& f : type->fields) {
        node.AddName(f.name);
        node.children.push_back(BuildNode(f.type.get()));
      }
      break;
    case TypeKind::kArray:
      node.children.push_back(BuildNode(type->element.get()));
      break;
    case TypeKind::kMap:
      node.children.push_back(BuildNode(type->key.get()));
      node.children.push_back(BuildNode(type->value.get()));
      break;
    default:
      break;
  }
  return node;
}

// Tracks which fields of an object were seen, without allocating for <= 64.
// Each object has its own set: a nested object must not clear its parent's.
class SeenSet {
 public:
  explicit SeenSet(size_t n) {
    if (n > 64) spill_.assign(n, 0);
  }
  // Returns false if i was already seen.
  bool Insert(int i) {
    if (!spill_.empty()) {
      if (spill_[i]) return false;
      spill_[i] = 1;
      return true;
    }
    uint64_t bit = uint64_t{1} << i;
    if (bits_ & bit) return false;
    bits_ |= bit;
    return true;
  }
  bool Contains(int i) const { return !spill_.empty() ? spill_[i] != 0 : (bits_ >> i) & 1; }

 private:
  uint64_t bits_ = 0;
  std::vector<uint8_t> spill_;
};

// The key of `field` as written when it has no escape (no copy), else
// unescaped by simdjson. A key token always ends with a quote (stage 1).
simdjson::error_code ReadKey(od::field& field, std::string_view* key) {
  const char* raw = field.key().raw();
  const char* p = raw;
  while (*p != '"' && *p != '\\') ++p;
  if (*p == '"') {
    *key = std::string_view(raw, static_cast<size_t>(p - raw));
    return simdjson::SUCCESS;
  }
  return field.unescaped_key().get(*key);
}

void PushPathKey(std::string_view key, std::vector<std::string>* path) {
  bool plain = !key.empty();
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) plain = false;
  }
  if (plain) {
    path->push_back("." + std::string(key));
  } else {
    std::string quoted = "[";
    AppendJsonString(key, &quoted);
    path->push_back(quoted + "]");
  }
}

}  // namespace

RecordConverter::RecordConverter(const TableSchema* schema, ConverterOptions options)
    : schema_(schema), options_(options) {
  for (const Column& c : schema->columns) {
    root_.AddName(c.name);
    root_.children.push_back(BuildNode(c.type.get()));
    root_.required.push_back(c.required);
  }
}

namespace {

constexpr int kUnreadableKey = -2;

// The index in node.names of `field`'s key: as written, else unescaped (then
// *key is the key); -1 for an unknown key, kUnreadableKey for a key that
// cannot be read. Inline: it runs once per field.
inline int KeyIndex(const RecordConverter::Node& node, od::field& field, int hint,
                    const char* doc_end, std::string_view* key) {
  int i = node.FindRaw(field.key().raw(), doc_end, hint);
  if (i >= 0) return i;
  if (ReadKey(field, key) != simdjson::SUCCESS) return kUnreadableKey;
  return node.Find(*key, hint);
}

}  // namespace

bool RecordConverter::Fail(ConversionErrorCode code, std::string message) {
  error_->code = code;
  error_->message = std::move(message);
  reverse_path_.clear();
  return false;
}

void RecordConverter::FinishPath() {
  std::string path = "$";
  for (auto it = reverse_path_.rbegin(); it != reverse_path_.rend(); ++it) path += *it;
  error_->path = std::move(path);
}

bool RecordConverter::Convert(std::string_view json, ColumnBatch* batch, ColumnVector* extra,
                              ConversionError* error) {
  error_ = error;
  reverse_path_.clear();
  const size_t row = batch->rows();
  auto fail = [&]() {
    batch->Truncate(row);
    FinishPath();
    return false;
  };
  padded_.resize(json.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(padded_.data(), json.data(), json.size());
  doc_end_ = padded_.data() + json.size();
  od::document doc;
  if (parser_.iterate(padded_.data(), json.size(), padded_.size()).get(doc) != simdjson::SUCCESS) {
    Fail(ConversionErrorCode::kMalformedJson, "the event is not valid JSON");
    return fail();
  }
  od::object object;
  auto object_error = doc.get_object().get(object);
  if (object_error == simdjson::INCORRECT_TYPE) {
    Fail(ConversionErrorCode::kNotAnObject, "the event is not a JSON object");
    return fail();
  }
  if (object_error != simdjson::SUCCESS) {
    Fail(ConversionErrorCode::kMalformedJson, "the event is not valid JSON");
    return fail();
  }
  const bool keep_extra = options_.keep_unknown_fields && extra != nullptr;
  if (keep_extra) extra_.assign(1, '{');
  SeenSet seen(root_.names.size());
  int hint = 0;
  for (auto field_result : object) {
    std::string_view key;  // set for a key not matched as written
    if (field_result.error() != simdjson::SUCCESS) {
      Fail(ConversionErrorCode::kMalformedJson, "the event is not valid JSON");
      return fail();
    }
    od::field& field = field_result.value_unsafe();  // no copy of the field
    const int i = KeyIndex(root_, field, hint, doc_end_, &key);
    if (i == kUnreadableKey) {
      Fail(ConversionErrorCode::kMalformedJson, "the event is not valid JSON");
      return fail();
    }
    if (i < 0) {
      if (keep_extra) {
        od::value v = field.value();
        od::json_type t;
        std::string_view raw;
        bool ok = v.type().get(t) == simdjson::SUCCESS;
        if (ok && t == od::json_type::object) {
          od::object o;
          ok = v.get_object().get(o) == simdjson::SUCCESS &&
               o.raw_json().get(raw) == simdjson::SUCCESS;
        } else if (ok && t == od::json_type::array) {
          od::array a;
          ok = v.get_array().get(a) == simdjson::SUCCESS &&
               a.raw_json().get(raw) == simdjson::SUCCESS;
        } else if (ok) {
          raw = TrimRight(v.raw_json_token());
        }
        if (!ok) {
          Fail(ConversionErrorCode::kMalformedJson, "the event is not valid JSON");
          return fail();
        }
        if (extra_.size() > 1) extra_.push_back(',');
        AppendJsonString(key, &extra_);
        extra_.push_back(':');
        extra_.append(raw);
      }
      continue;
    }
    hint = i + 1;
    if (!seen.Insert(i)) {
      Fail(ConversionErrorCode::kDuplicateField, "the key appears more than once");
      PushPathKey(root_.names[i], &reverse_path_);
      return fail();
    }
    // Validation hook (processor): range / enum / format checks of column i go here.
    if (!ConvertValue(root_.children[i], field.value(), batch->column(i))) {
      PushPathKey(root_.names[i], &reverse_path_);
      return fail();
    }
    if (root_.required[i] && !batch->column(i)->IsValid(row)) {
      Fail(ConversionErrorCode::kMissingField, "required field is null");
      PushPathKey(root_.names[i], &reverse_path_);
      return fail();
    }
  }
  for (size_t i = 0; i < root_.names.size(); ++i) {
    if (seen.Contains(static_cast<int>(i))) continue;
    if (root_.required[i]) {
      Fail(ConversionErrorCode::kMissingField, "required field is missing");
      PushPathKey(root_.names[i], &reverse_path_);
      return fail();
    }
    batch->column(i)->AppendNull();
  }
  if (extra != nullptr) {
    if (keep_extra && extra_.size() > 1) {
      extra_.push_back('}');
      extra->AppendString(extra_);
    } else {
      extra->AppendNull();
    }
  }
  batch->CommitRow();
  return true;
}

bool RecordConverter::ConvertValue(const Node& node, od::value& value, ColumnVector* out) {
  od::json_type t;
  if (value.type().get(t) != simdjson::SUCCESS) {
    return Fail(ConversionErrorCode::kMalformedJson, "the event is not valid JSON");
  }
  if (t == od::json_type::null) {
    out->AppendNull();
    return true;
  }
  const TypeKind kind = node.type->kind;
  auto mismatch = [&](const char* expected) {
    return Fail(ConversionErrorCode::kTypeMismatch,
                std::string("expected ") + expected + ", got " + JsonTypeName(t));
  };
  switch (kind) {
    case TypeKind::kStruct: {
      if (t != od::json_type::object) return mismatch("an object (struct)");
      od::object o;
      if (value.get_object().get(o) != simdjson::SUCCESS) {
        return Fail(ConversionErrorCode::kMalformedJson, "the event is not valid JSON");
      }
      return ConvertObject(node, o, out);
    }
    case TypeKind::kArray: {
      if (t != od::json_type::array) return mismatch("an array");
      od::array a;
      if (value.get_array().get(a) != simdjson::SUCCESS) {
        return Fail(ConversionErrorCode::kMalformedJson, "the event is not valid JSON");
      }
      size_t index = 0;
      for (auto element : a) {
        od::value v;
        if (std::move(element).get(v) != simdjson::SUCCESS) {
          return Fail(ConversionErrorCode::kMalformedJson, "the event is not valid JSON");
        }
        if (!ConvertValue(node.children[0], v, out->child(0))) {
          reverse_path_.push_back("[" + std::to_string(index) + "]");
          return false;
        }
        ++index;
      }
      out->AppendListValid();
      return true;
    }
    case TypeKind::kMap: {
      if (t != od::json_type::object) return mismatch("an object (map)");
      od::object o;
      if (value.get_object().get(o) != simdjson::SUCCESS) {
        return Fail(ConversionErrorCode::kMalformedJson, "the event is not valid JSON");
      }
      for (auto field_result : o) {
        od::field field;
        std::string_view key;
        if (std::move(field_result).get(field) != simdjson::SUCCESS ||
            field.unescaped_key().get(key) != simdjson::SUCCESS) {
          return Fail(ConversionErrorCode::kMalformedJson, "the event is not valid JSON");
        }
        std::string key_copy(key);  // the parser's string buffer is reused by the value
        if (!ConvertMapKey(node.children[0], key_copy, out->child(0)) ||
            !ConvertValue(node.children[1], field.value(), out->child(1))) {
          PushPathKey(key_copy, &reverse_path_);
          return false;
        }
      }
      out->AppendListValid();
      return true;
    }
    default:
      break;
  }
  // Scalars.
  if (t == od::json_type::object)
    return mismatch(kind == TypeKind::kString ? "a string" : "a scalar");
  if (t == od::json_type::array)
    return mismatch(kind == TypeKind::kString ? "a string" : "a scalar");
  if (t == od::json_type::string) {
    std::string_view s;
    if (value.get_string().get(s) != simdjson::SUCCESS) {
      return Fail(ConversionErrorCode::kMalformedJson, "the event is not valid JSON");
    }
    if (kind == TypeKind::kString) {  // the common case, without the call
      out->AppendString(s);
      return true;
    }
    return ConvertScalarText(node, s, true, out);
  }
  if (t == od::json_type::boolean) {
    bool b;
    if (value.get_bool().get(b) != simdjson::SUCCESS) {
      return Fail(ConversionErrorCode::kMalformedJson, "the event is not valid JSON");
    }
    if (kind == TypeKind::kBoolean) {
      out->AppendBool(b);
      return true;
    }
    if (kind == TypeKind::kString) {
      out->AppendString(b ? "true" : "false");
      return true;
    }
    return Fail(ConversionErrorCode::kTypeMismatch,
                "expected " + node.type->ToString() + ", got a boolean");
  }
  // A number. Doubles and integers take simdjson's parsers (correctly
  // rounded, exact); anything else, and every error, the number's own text,
  // so that strings and decimals keep the exact digits.
  if (kind == TypeKind::kDouble) {
    double d;
    if (value.get_double().get(d) == simdjson::SUCCESS) {
      out->AppendDouble(d);
      return true;
    }
  } else if (kind == TypeKind::kBigint || kind == TypeKind::kInt) {
    int64_t v;
    if (value.get_int64().get(v) == simdjson::SUCCESS) {
      if (kind == TypeKind::kBigint) {
        out->AppendInt64(v);
        return true;
      }
      if (v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max()) {
        out->AppendInt32(static_cast<int32_t>(v));
        return true;
      }
    }
  }
  return ConvertScalarText(node, TrimRight(value.raw_json_token()), false, out);
}

bool RecordConverter::ConvertObject(const Node& node, od::object object, ColumnVector* out) {
  SeenSet seen(node.names.size());
  int hint = 0;
  for (auto field_result : object) {
    std::string_view key;
    if (field_result.error() != simdjson::SUCCESS) {
      return Fail(ConversionErrorCode::kMalformedJson, "the event is not valid JSON");
    }
    od::field& field = field_result.value_unsafe();  // no copy of the field
    const int i = KeyIndex(node, field, hint, doc_end_, &key);
    if (i == kUnreadableKey) {
      return Fail(ConversionErrorCode::kMalformedJson, "the event is not valid JSON");
    }
    if (i < 0) continue;  // unknown nested keys are not part of the table
    hint = i + 1;
    if (!seen.Insert(i)) {
      Fail(ConversionErrorCode::kDuplicateField, "the key appears more than once");
      PushPathKey(node.names[i], &reverse_path_);
      return false;
    }
    if (!ConvertValue(node.children[i], field.value(), out->child(i))) {
      PushPathKey(node.names[i], &reverse_path_);
      return false;
    }
  }
  for (size_t i = 0; i < node.names.size(); ++i) {
    if (!seen.Contains(static_cast<int>(i))) out->child(i)->AppendNull();
  }
  out->AppendStructValid();
  return true;
}

bool RecordConverter::ConvertMapKey(const Node& node, std::string_view key, ColumnVector* out) {
  return ConvertScalarText(node, key, true, out);
}

bool RecordConverter::ConvertScalarText(const Node& node, std::string_view text, bool quoted,
                                        ColumnVector* out) {
  const DataType& type = *node.type;
  const char* got = quoted ? "a string" : "a number";
  switch (type.kind) {
    case TypeKind::kString:
      out->AppendString(text);
      return true;
    case TypeKind::kBigint:
    case TypeKind::kInt: {
      int64_t v;
      bool out_of_range;
      if (!ParseInt64Text(text, &v, &out_of_range)) {
        if (out_of_range) {
          return Fail(ConversionErrorCode::kOutOfRange,
                      Quote(text) + " does not fit " + type.ToString());
        }
        return Fail(ConversionErrorCode::kTypeMismatch, "expected an integer (" + type.ToString() +
                                                            "), got " + got + " " + Quote(text));
      }
      if (type.kind == TypeKind::kBigint) {
        out->AppendInt64(v);
        return true;
      }
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
        return Fail(ConversionErrorCode::kOutOfRange, Quote(text) + " does not fit int (32-bit)");
      }
      out->AppendInt32(static_cast<int32_t>(v));
      return true;
    }
    case TypeKind::kDouble: {
      double d;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
      if (ec == std::errc::result_out_of_range) {
        return Fail(ConversionErrorCode::kOutOfRange, Quote(text) + " does not fit double");
      }
      if (ec != std::errc() || end != text.data() + text.size()) {
        return Fail(ConversionErrorCode::kTypeMismatch,
                    std::string("expected a number (double), got ") + got + " " + Quote(text));
      }
      out->AppendDouble(d);
      return true;
    }
    case TypeKind::kBoolean:
      if (quoted && text == "true") {
        out->AppendBool(true);
        return true;
      }
      if (quoted && text == "false") {
        out->AppendBool(false);
        return true;
      }
      return Fail(ConversionErrorCode::kTypeMismatch,
                  std::string("expected a boolean, got ") + got + " " + Quote(text));
    case TypeKind::kTimestamp: {
      if (quoted) {
        auto micros = ParseTimestampMicros(text);
        if (!micros) {
          return Fail(ConversionErrorCode::kInvalidFormat,
                      "not an RFC 3339 timestamp: " + Quote(text));
        }
        out->AppendInt64(*micros);
        return true;
      }
      int64_t iv;
      bool out_of_range;
      std::optional<int64_t> micros;
      if (ParseInt64Text(text, &iv, &out_of_range) &&
          text.find_first_of(".eE") == std::string_view::npos) {
        micros = EpochIntegerToMicros(iv);
      } else {
        double d;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
        if (ec == std::errc() && end == text.data() + text.size()) micros = EpochNumberToMicros(d);
      }
      if (!micros)
        return Fail(ConversionErrorCode::kOutOfRange, Quote(text) + " is not a valid epoch time");
      out->AppendInt64(*micros);
      return true;
    }
    case TypeKind::kDate: {
      if (quoted) {
        if (auto days = ParseDateDays(text)) {
          out->AppendInt32(*days);
          return true;
        }
        if (auto micros = ParseTimestampMicros(text)) {
          int64_t days = *micros / kMicrosPerDay - (*micros % kMicrosPerDay < 0 ? 1 : 0);
          out->AppendInt32(static_cast<int32_t>(days));
          return true;
        }
        return Fail(ConversionErrorCode::kInvalidFormat, "not a date (YYYY-MM-DD): " + Quote(text));
      }
      int64_t v;
      bool out_of_range;
      if (!ParseInt64Text(text, &v, &out_of_range) || v < std::numeric_limits<int32_t>::min() ||
          v > std::numeric_limits<int32_t>::max()) {
        return Fail(ConversionErrorCode::kTypeMismatch,
                    "expected a date (YYYY-MM-DD or days since 1970-01-01), got " + Quote(text));
      }
      out->AppendInt32(static_cast<int32_t>(v));
      return true;
    }
    case TypeKind::kDecimal: {
      Int128 v;
      switch (ParseDecimal(text, type.precision, type.scale, &v)) {
        case DecimalParse::kOk:
          out->AppendDecimal(v);
          return true;
        case DecimalParse::kOverflow:
          return Fail(ConversionErrorCode::kOutOfRange,
                      Quote(text) + " does not fit " + type.ToString());
        case DecimalParse::kInvalid:
          return Fail(
              quoted ? ConversionErrorCode::kInvalidFormat : ConversionErrorCode::kTypeMismatch,
              "not a decimal number: " + Quote(text));
      }
      return false;
    }
    default:
      return Fail(ConversionErrorCode::kTypeMismatch,
                  "expected " + type.ToString() + ", got " + got + " " + Quote(text));
  }
}

}  // namespace inlet::schema
