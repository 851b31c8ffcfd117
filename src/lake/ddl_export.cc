#include "lake/ddl_export.h"

#include <set>

#include "schema/table_schema.h"

namespace inlet::lake {
namespace {

using schema::DataType;
using schema::TypeKind;

std::string Backtick(std::string_view name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`') out += '`';
    out += c;
  }
  return out + "`";
}

std::string DoubleQuote(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string SqlString(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string Trino(const DataType& t) {
  switch (t.kind) {
    case TypeKind::kString:
      return "varchar";
    case TypeKind::kBigint:
      return "bigint";
    case TypeKind::kInt:
      return "integer";
    case TypeKind::kDouble:
      return "double";
    case TypeKind::kBoolean:
      return "boolean";
    case TypeKind::kTimestamp:
      return "timestamp(6)";
    case TypeKind::kDate:
      return "date";
    case TypeKind::kDecimal:
      return "decimal(" + std::to_string(t.precision) + "," + std::to_string(t.scale) + ")";
    case TypeKind::kArray:
      return "array(" + Trino(*t.element) + ")";
    case TypeKind::kMap:
      return "map(" + Trino(*t.key) + ", " + Trino(*t.value) + ")";
    case TypeKind::kStruct: {
      std::string out = "row(";
      for (size_t i = 0; i < t.fields.size(); ++i) {
        out += (i ? ", " : "") + DoubleQuote(t.fields[i].name) + " " + Trino(*t.fields[i].type);
      }
      return out + ")";
    }
  }
  return "varchar";
}

}  // namespace

Result<DdlDialect> ParseDdlDialect(std::string_view text) {
  if (text == "athena") return DdlDialect::kAthena;
  if (text == "trino") return DdlDialect::kTrino;
  if (text == "hive") return DdlDialect::kHive;
  return Status::InvalidArgument("unknown DDL dialect '" + std::string(text) +
                                 "' (expected athena, trino or hive)");
}

std::string TrinoType(std::string_view glue_type) {
  auto t = schema::ParseType(glue_type);
  return t.ok() ? Trino(*t.value()) : "varchar";
}

std::string ExportDdl(const std::vector<TableInfo>& tables, DdlDialect dialect,
                      std::string location_root) {
  if (!location_root.empty() && location_root.back() != '/') location_root += '/';
  std::string out;
  std::set<std::string> databases;
  for (const auto& t : tables) {
    if (!databases.insert(t.database).second) continue;
    if (dialect == DdlDialect::kTrino) {
      out += "CREATE SCHEMA IF NOT EXISTS hive." + DoubleQuote(t.database) + ";\n";
    } else {
      out += "CREATE DATABASE IF NOT EXISTS " + Backtick(t.database) + ";\n";
    }
  }
  if (!out.empty()) out += "\n";
  for (const auto& t : tables) {
    std::string location = location_root + t.location;
    if (!location.empty() && location.back() != '/') location += '/';
    std::vector<const ColumnInfo*> cols;
    for (const auto& c : t.columns) {
      if (!c.deprecated) cols.push_back(&c);
    }
    if (dialect == DdlDialect::kTrino) {
      out += "CREATE TABLE IF NOT EXISTS hive." + DoubleQuote(t.database) + "." +
             DoubleQuote(t.name) + " (\n";
      std::vector<std::string> lines;
      for (const auto* c : cols)
        lines.push_back("  " + DoubleQuote(c->name) + " " + TrinoType(c->type));
      for (const auto& k : t.partition_keys)
        lines.push_back("  " + DoubleQuote(k.name) + " " + TrinoType(k.type));
      for (size_t i = 0; i < lines.size(); ++i)
        out += lines[i] + (i + 1 < lines.size() ? ",\n" : "\n");
      out += ")\nWITH (\n  format = 'PARQUET',\n  external_location = " + SqlString(location);
      if (!t.partition_keys.empty()) {
        out += ",\n  partitioned_by = ARRAY[";
        for (size_t i = 0; i < t.partition_keys.size(); ++i)
          out += (i ? ", " : "") + SqlString(t.partition_keys[i].name);
        out += "]";
      }
      out += "\n);\n";
      if (!t.partition_keys.empty()) {
        out += "CALL hive.system.sync_partition_metadata(" + SqlString(t.database) + ", " +
               SqlString(t.name) + ", 'ADD');\n";
      }
    } else {
      out += "CREATE EXTERNAL TABLE IF NOT EXISTS " + Backtick(t.database) + "." +
             Backtick(t.name) + " (\n";
      for (size_t i = 0; i < cols.size(); ++i) {
        out += "  " + Backtick(cols[i]->name) + " " + cols[i]->type +
               (i + 1 < cols.size() ? ",\n" : "\n");
      }
      out += ")\n";
      if (!t.description.empty()) out += "COMMENT " + SqlString(t.description) + "\n";
      if (!t.partition_keys.empty()) {
        out += "PARTITIONED BY (";
        for (size_t i = 0; i < t.partition_keys.size(); ++i) {
          out +=
              (i ? ", " : "") + Backtick(t.partition_keys[i].name) + " " + t.partition_keys[i].type;
        }
        out += ")\n";
      }
      out += "STORED AS PARQUET\nLOCATION " + SqlString(location) + "\n";
      std::string compression = t.compression.empty() ? "none" : t.compression;
      for (auto& ch : compression)
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      out += "TBLPROPERTIES ('parquet.compression'=" + SqlString(compression) + ");\n";
      if (!t.partition_keys.empty())
        out += "MSCK REPAIR TABLE " + Backtick(t.database) + "." + Backtick(t.name) + ";\n";
    }
    out += "\n";
  }
  return out;
}

}  // namespace inlet::lake
