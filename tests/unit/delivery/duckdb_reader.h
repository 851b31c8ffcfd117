// Test helper: runs SQL with the DuckDB C API and returns every value as text
// ("NULL" for nulls), to read back the Parquet files the delivery writes.
#pragma once

#include <duckdb.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace inlet::delivery::testing {

using Rows = std::vector<std::vector<std::string>>;

class DuckDbReader {
 public:
  DuckDbReader() {
    if (duckdb_open(nullptr, &db_) != DuckDBSuccess ||
        duckdb_connect(db_, &conn_) != DuckDBSuccess) {
      throw std::runtime_error("cannot open DuckDB");
    }
  }
  ~DuckDbReader() {
    duckdb_disconnect(&conn_);
    duckdb_close(&db_);
  }
  // Throws with DuckDB's message on error.
  Rows Query(const std::string& sql) {
    duckdb_result result;
    if (duckdb_query(conn_, sql.c_str(), &result) != DuckDBSuccess) {
      std::string err = duckdb_result_error(&result);
      duckdb_destroy_result(&result);
      throw std::runtime_error(err + " in: " + sql);
    }
    Rows rows;
    idx_t n = duckdb_row_count(&result);
    idx_t cols = duckdb_column_count(&result);
    for (idx_t r = 0; r < n; ++r) {
      std::vector<std::string> row;
      for (idx_t c = 0; c < cols; ++c) {
        if (duckdb_value_is_null(&result, c, r)) {
          row.push_back("NULL");
        } else {
          char* v = duckdb_value_varchar(&result, c, r);
          if (v == nullptr) throw std::runtime_error("cast nested values to VARCHAR in: " + sql);
          row.push_back(v);
          duckdb_free(v);
        }
      }
      rows.push_back(std::move(row));
    }
    duckdb_destroy_result(&result);
    return rows;
  }
  std::string Scalar(const std::string& sql) {
    Rows r = Query(sql);
    return r.empty() || r[0].empty() ? "" : r[0][0];
  }

 private:
  duckdb_database db_ = nullptr;
  duckdb_connection conn_ = nullptr;
};

}  // namespace inlet::delivery::testing
