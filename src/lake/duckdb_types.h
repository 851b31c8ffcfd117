// Helpers of the lake's DuckDB adapter: conversion between DuckDB logical
// types and the catalog's Glue type strings, SQL quoting, and owning
// wrappers of DuckDB C handles. Only src/lake includes this. Stateless.
#pragma once

#include <duckdb.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace inlet::lake {

// "bigint", "struct<os:string>", "array<double>", "decimal(10,2)"... for a DuckDB
// type; always a type schema::ParseType accepts (smaller integers become int,
// float double, other types string).
std::string GlueTypeOf(duckdb_logical_type type);
// The DuckDB SQL type of a Glue type string ("struct<a:int>" -> "STRUCT(\"a\" INTEGER)").
Result<std::string> DuckDbTypeOf(std::string_view glue_type);

// SQL identifier and string literal quoting.
std::string QuoteIdent(std::string_view name);
std::string QuoteLiteral(std::string_view text);

// A materialized DuckDB result, destroyed with the object.
class DuckResult {
 public:
  DuckResult() = default;
  ~DuckResult() { duckdb_destroy_result(&result_); }
  DuckResult(const DuckResult&) = delete;
  DuckResult& operator=(const DuckResult&) = delete;
  duckdb_result* get() { return &result_; }
  // The value at (col, row) as text, "" for NULL.
  std::string Text(idx_t col, idx_t row);
  int64_t Int(idx_t col, idx_t row) { return duckdb_value_int64(&result_, col, row); }
  idx_t rows() { return duckdb_row_count(&result_); }

 private:
  duckdb_result result_{};
};

// Runs `sql` on `conn`; the error message of DuckDB when it fails.
Status RunSql(duckdb_connection conn, const std::string& sql, DuckResult* out = nullptr);

}  // namespace inlet::lake
