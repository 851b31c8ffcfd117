// The table schema model: Glue-like column types (string, bigint, int, double,
// boolean, timestamp, date, decimal, struct, array, map), required flags,
// numeric ranges, enums and string formats. One TableSchema drives
// validation, the Parquet layout and the catalog entry. Plain values;
// thread-compatible, immutable once built.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace inlet::schema {

enum class TypeKind {
  kString,
  kBigint,  // int64
  kInt,     // int32
  kDouble,
  kBoolean,
  kTimestamp,  // microseconds since the epoch, UTC; JSON: RFC 3339 string or epoch number
  kDate,
  kDecimal,
  kStruct,
  kArray,
  kMap,
};

struct DataType;
struct Field {
  std::string name;
  std::shared_ptr<const DataType> type;
};

// A column or nested field type. Composite kinds hold their children:
// kStruct -> fields, kArray -> element, kMap -> key and value.
struct DataType {
  TypeKind kind = TypeKind::kString;
  int precision = 0;  // kDecimal
  int scale = 0;      // kDecimal
  std::vector<Field> fields;
  std::shared_ptr<const DataType> element;
  std::shared_ptr<const DataType> key;
  std::shared_ptr<const DataType> value;

  // Glue / Hive spelling: "bigint", "decimal(10,2)", "struct<a:int,b:array<string>>".
  std::string ToString() const;
};

// Parses a Glue / Hive type string. Errors name the offending position.
Result<std::shared_ptr<const DataType>> ParseType(std::string_view text);

enum class StringFormat { kNone, kRfc3339, kIpAddress, kEmail, kUuid };

// Result<StringFormat> for "rfc3339" | "date-time", "ip", "email", "uuid".
Result<StringFormat> ParseStringFormat(std::string_view text);

struct Column {
  std::string name;
  std::shared_ptr<const DataType> type;
  bool required = false;
  std::optional<double> min;  // numeric ranges, inclusive
  std::optional<double> max;
  std::vector<std::string> enum_values;  // allowed values of a string column
  StringFormat format = StringFormat::kNone;
  std::optional<uint64_t> max_length;  // bytes of a string, elements of an array
  std::string description;
};

struct TableSchema {
  std::string database;  // catalog database: raw, curated, errors, ...
  std::string name;      // table name inside the database
  std::vector<Column> columns;
  std::string description;

  const Column* FindColumn(std::string_view column_name) const;
  std::string QualifiedName() const { return database + "." + name; }
};

}  // namespace inlet::schema
