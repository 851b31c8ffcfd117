#include "lake/duckdb_types.h"

#include "delivery/parquet_writer.h"
#include "schema/table_schema.h"

namespace inlet::lake {
namespace {

std::string ChildGlue(duckdb_logical_type child) {
  std::string out = GlueTypeOf(child);
  duckdb_destroy_logical_type(&child);
  return out;
}

}  // namespace

std::string GlueTypeOf(duckdb_logical_type type) {
  switch (duckdb_get_type_id(type)) {
    case DUCKDB_TYPE_BOOLEAN:
      return "boolean";
    case DUCKDB_TYPE_TINYINT:
    case DUCKDB_TYPE_SMALLINT:
    case DUCKDB_TYPE_UTINYINT:
    case DUCKDB_TYPE_INTEGER:
    case DUCKDB_TYPE_USMALLINT:
      return "int";
    case DUCKDB_TYPE_BIGINT:
    case DUCKDB_TYPE_UINTEGER:
      return "bigint";
    case DUCKDB_TYPE_UBIGINT:
    case DUCKDB_TYPE_HUGEINT:
    case DUCKDB_TYPE_UHUGEINT:
      return "decimal(38,0)";
    case DUCKDB_TYPE_FLOAT:
    case DUCKDB_TYPE_DOUBLE:
      return "double";
    case DUCKDB_TYPE_DECIMAL:
      return "decimal(" + std::to_string(duckdb_decimal_width(type)) + "," +
             std::to_string(duckdb_decimal_scale(type)) + ")";
    case DUCKDB_TYPE_DATE:
      return "date";
    case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_TIMESTAMP_S:
    case DUCKDB_TYPE_TIMESTAMP_MS:
    case DUCKDB_TYPE_TIMESTAMP_NS:
    case DUCKDB_TYPE_TIMESTAMP_TZ:
      return "timestamp";
    case DUCKDB_TYPE_LIST:
      return "array<" + ChildGlue(duckdb_list_type_child_type(type)) + ">";
    case DUCKDB_TYPE_ARRAY:
      return "array<" + ChildGlue(duckdb_array_type_child_type(type)) + ">";
    case DUCKDB_TYPE_MAP:
      return "map<" + ChildGlue(duckdb_map_type_key_type(type)) + "," +
             ChildGlue(duckdb_map_type_value_type(type)) + ">";
    case DUCKDB_TYPE_STRUCT: {
      std::string out = "struct<";
      idx_t n = duckdb_struct_type_child_count(type);
      for (idx_t i = 0; i < n; ++i) {
        char* name = duckdb_struct_type_child_name(type, i);
        out += (i ? "," : "") + std::string(name) + ":" +
               ChildGlue(duckdb_struct_type_child_type(type, i));
        duckdb_free(name);
      }
      return out + ">";
    }
    default:
      return "string";  // VARCHAR, BLOB, UUID, JSON, TIME, INTERVAL, ENUM...: read as text
  }
}

Result<std::string> DuckDbTypeOf(std::string_view glue_type) {
  auto parsed = schema::ParseType(glue_type);
  if (!parsed.ok()) return parsed.status();
  return delivery::ParquetWriter::DuckDbTypeName(*parsed.value());
}

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string QuoteLiteral(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string DuckResult::Text(idx_t col, idx_t row) {
  char* v = duckdb_value_varchar(&result_, col, row);
  std::string out = v ? v : "";
  duckdb_free(v);
  return out;
}

Status RunSql(duckdb_connection conn, const std::string& sql, DuckResult* out) {
  DuckResult local;
  DuckResult* r = out ? out : &local;
  if (duckdb_query(conn, sql.c_str(), r->get()) == DuckDBError) {
    const char* err = duckdb_result_error(r->get());
    return Status::InvalidArgument(err ? err : "query failed");
  }
  return Status::Ok();
}

}  // namespace inlet::lake
