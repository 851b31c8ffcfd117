#include "schema/table_schema.h"

#include <cctype>
#include <charconv>
#include <string>

namespace inlet::schema {
namespace {

constexpr int kMaxDecimalPrecision = 38;
constexpr int kDefaultDecimalPrecision = 10;  // Hive's "decimal" without arguments
constexpr int kMaxTypeDepth = 64;

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Recursive-descent parser over a Glue / Hive type string.
class TypeParser {
 public:
  explicit TypeParser(std::string_view text) : text_(text) {}

  Result<std::shared_ptr<const DataType>> ParseAll() {
    auto type = ParseOne(0);
    if (!type.ok()) return type;
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected trailing text");
    return type;
  }

 private:
  Status Error(std::string_view what) const {
    return Status::InvalidArgument("type '" + std::string(text_) + "': " + std::string(what) +
                                   " at position " + std::to_string(pos_));
  }
  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::string_view Identifier() {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) {
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }
  // A struct field name: an identifier, or any text between backquotes.
  Result<std::string> FieldName() {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '`') {
      size_t end = text_.find('`', pos_ + 1);
      if (end == std::string_view::npos) return Error("unterminated `quoted` field name");
      std::string name(text_.substr(pos_ + 1, end - pos_ - 1));
      pos_ = end + 1;
      if (name.empty()) return Error("empty field name");
      return name;
    }
    std::string_view name = Identifier();
    if (name.empty()) return Error("expected a field name");
    return std::string(name);
  }
  Result<int> Integer() {
    SkipSpace();
    int value = 0;
    auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), value);
    if (ec != std::errc()) return Error("expected a number");
    pos_ = end - text_.data();
    return value;
  }

  Result<std::shared_ptr<const DataType>> ParseOne(int depth) {
    if (depth > kMaxTypeDepth) return Error("type nested too deeply");
    size_t start = pos_;
    std::string_view name = Identifier();
    if (name.empty()) return Error("expected a type name");
    auto type = std::make_shared<DataType>();
    struct Simple {
      std::string_view name;
      TypeKind kind;
    };
    static constexpr Simple kSimple[] = {
        {"string", TypeKind::kString},   {"varchar", TypeKind::kString},
        {"bigint", TypeKind::kBigint},   {"int", TypeKind::kInt},
        {"integer", TypeKind::kInt},     {"double", TypeKind::kDouble},
        {"boolean", TypeKind::kBoolean}, {"timestamp", TypeKind::kTimestamp},
        {"date", TypeKind::kDate},
    };
    for (const Simple& s : kSimple) {
      if (IEquals(name, s.name)) {
        type->kind = s.kind;
        return std::shared_ptr<const DataType>(std::move(type));
      }
    }
    if (IEquals(name, "decimal")) {
      type->kind = TypeKind::kDecimal;
      type->precision = kDefaultDecimalPrecision;
      type->scale = 0;
      if (Consume('(')) {
        auto p = Integer();
        if (!p.ok()) return p.status();
        int scale = 0;
        if (Consume(',')) {
          auto s = Integer();
          if (!s.ok()) return s.status();
          scale = *s;
        }
        if (!Consume(')')) return Error("expected ')' after decimal arguments");
        if (*p < 1 || *p > kMaxDecimalPrecision) {
          return Error("decimal precision must be 1..38, got " + std::to_string(*p));
        }
        if (scale < 0 || scale > *p) {
          return Error("decimal scale must be 0..precision, got " + std::to_string(scale));
        }
        type->precision = *p;
        type->scale = scale;
      }
      return std::shared_ptr<const DataType>(std::move(type));
    }
    if (IEquals(name, "array")) {
      type->kind = TypeKind::kArray;
      if (!Consume('<')) return Error("expected '<' after array");
      auto element = ParseOne(depth + 1);
      if (!element.ok()) return element.status();
      type->element = *element;
      if (!Consume('>')) return Error("expected '>' to close array<");
      return std::shared_ptr<const DataType>(std::move(type));
    }
    if (IEquals(name, "map")) {
      type->kind = TypeKind::kMap;
      if (!Consume('<')) return Error("expected '<' after map");
      size_t key_pos = pos_;
      auto key = ParseOne(depth + 1);
      if (!key.ok()) return key.status();
      TypeKind k = (*key)->kind;
      if (k == TypeKind::kStruct || k == TypeKind::kArray || k == TypeKind::kMap) {
        pos_ = key_pos;
        return Error("map keys must be a primitive type");
      }
      if (!Consume(',')) return Error("expected ',' between map key and value types");
      auto value = ParseOne(depth + 1);
      if (!value.ok()) return value.status();
      type->key = *key;
      type->value = *value;
      if (!Consume('>')) return Error("expected '>' to close map<");
      return std::shared_ptr<const DataType>(std::move(type));
    }
    if (IEquals(name, "struct")) {
      type->kind = TypeKind::kStruct;
      if (!Consume('<')) return Error("expected '<' after struct");
      if (Consume('>')) return Error("a struct needs at least one field");
      do {
        auto field_name = FieldName();
        if (!field_name.ok()) return field_name.status();
        for (const Field& f : type->fields) {
          if (IEquals(f.name, *field_name))
            return Error("duplicate struct field '" + *field_name + "'");
        }
        if (!Consume(':')) return Error("expected ':' after struct field name");
        auto field_type = ParseOne(depth + 1);
        if (!field_type.ok()) return field_type.status();
        type->fields.push_back(Field{std::move(*field_name), *field_type});
      } while (Consume(','));
      if (!Consume('>')) return Error("expected ',' or '>' in struct<");
      return std::shared_ptr<const DataType>(std::move(type));
    }
    pos_ = start;
    return Error("unknown type '" + std::string(name) +
                 "' (expected string, bigint, int, double, boolean, timestamp, date, "
                 "decimal(p,s), struct<...>, array<T> or map<K,V>)");
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::string DataType::ToString() const {
  switch (kind) {
    case TypeKind::kString:
      return "string";
    case TypeKind::kBigint:
      return "bigint";
    case TypeKind::kInt:
      return "int";
    case TypeKind::kDouble:
      return "double";
    case TypeKind::kBoolean:
      return "boolean";
    case TypeKind::kTimestamp:
      return "timestamp";
    case TypeKind::kDate:
      return "date";
    case TypeKind::kDecimal:
      return "decimal(" + std::to_string(precision) + "," + std::to_string(scale) + ")";
    case TypeKind::kArray:
      return "array<" + (element ? element->ToString() : "?") + ">";
    case TypeKind::kMap:
      return "map<" + (key ? key->ToString() : "?") + "," + (value ? value->ToString() : "?") + ">";
    case TypeKind::kStruct: {
      std::string out = "struct<";
      for (size_t i = 0; i < fields.size(); ++i) {
        if (i > 0) out += ',';
        bool plain = !fields[i].name.empty();
        for (char c : fields[i].name) {
          if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') plain = false;
        }
        out += plain ? fields[i].name : "`" + fields[i].name + "`";
        out += ':';
        out += fields[i].type ? fields[i].type->ToString() : "?";
      }
      return out + ">";
    }
  }
  return "?";
}

Result<std::shared_ptr<const DataType>> ParseType(std::string_view text) {
  return TypeParser(text).ParseAll();
}

Result<StringFormat> ParseStringFormat(std::string_view text) {
  if (text.empty() || IEquals(text, "none")) return StringFormat::kNone;
  if (IEquals(text, "rfc3339") || IEquals(text, "date-time")) return StringFormat::kRfc3339;
  if (IEquals(text, "ip")) return StringFormat::kIpAddress;
  if (IEquals(text, "email")) return StringFormat::kEmail;
  if (IEquals(text, "uuid")) return StringFormat::kUuid;
  return Status::InvalidArgument("unknown string format '" + std::string(text) +
                                 "' (expected rfc3339, date-time, ip, email or uuid)");
}

const Column* TableSchema::FindColumn(std::string_view column_name) const {
  for (const Column& c : columns) {
    if (c.name == column_name) return &c;
  }
  return nullptr;
}

}  // namespace inlet::schema
