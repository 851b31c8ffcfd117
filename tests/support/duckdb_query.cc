#include "support/duckdb_query.h"

#include <duckdb.h>
#include <gtest/gtest.h>

namespace inlet::testing {

Rows DuckQuery(const std::string& sql) {
  duckdb_database db;
  duckdb_connection con;
  Rows rows;
  if (duckdb_open(nullptr, &db) != DuckDBSuccess) {
    ADD_FAILURE() << "cannot open DuckDB";
    return rows;
  }
  duckdb_connect(db, &con);
  duckdb_result res;
  if (duckdb_query(con, sql.c_str(), &res) != DuckDBSuccess) {
    ADD_FAILURE() << "DuckDB: " << duckdb_result_error(&res) << "\nin: " << sql;
  } else {
    const idx_t cols = duckdb_column_count(&res);
    const idx_t n = duckdb_row_count(&res);
    for (idx_t r = 0; r < n; ++r) {
      std::vector<std::string> row;
      for (idx_t c = 0; c < cols; ++c) {
        char* v = duckdb_value_varchar(&res, c, r);
        row.push_back(v ? v : "NULL");
        duckdb_free(v);
      }
      rows.push_back(std::move(row));
    }
  }
  duckdb_destroy_result(&res);
  duckdb_disconnect(&con);
  duckdb_close(&db);
  return rows;
}

}  // namespace inlet::testing
