// The fixed test lake of the lake's unit and golden tests: a small raw.events
// table (3 days, Hive-partitioned, nested columns), curated.poi_presence,
// delivery errors, and an empty curated.events, written with DuckDB into a
// folder, plus the catalog registrations that describe them. Deterministic:
// the same files every time. Header-only; not thread-safe.
#pragma once

#include <duckdb.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "lake/lake_service.h"
#include "schema/table_schema.h"

namespace inlet::testing {

inline void TestLakeSql(duckdb_connection c, const std::string& sql) {
  duckdb_result r;
  if (duckdb_query(c, sql.c_str(), &r) == DuckDBError) {
    std::string e = duckdb_result_error(&r);
    duckdb_destroy_result(&r);
    throw std::runtime_error("test lake: " + e + "\n" + sql);
  }
  duckdb_destroy_result(&r);
}

// Runs statements on a throw-away DuckDB.
inline void RunDuckDb(const std::vector<std::string>& statements) {
  duckdb_database db;
  duckdb_connection c;
  if (duckdb_open(nullptr, &db) == DuckDBError) throw std::runtime_error("duckdb_open");
  duckdb_connect(db, &c);
  try {
    for (const auto& s : statements) TestLakeSql(c, s);
  } catch (...) {
    duckdb_disconnect(&c);
    duckdb_close(&db);
    throw;
  }
  duckdb_disconnect(&c);
  duckdb_close(&db);
}

// 300 events over 2024-05-01..03 (100 a day), 30 users, ages 18..77,
// genders f/m/x by user, one file per day under
// raw/events/year=2024/month=5/day=D/.
inline void WriteTestEvents(const std::filesystem::path& lake) {
  std::vector<std::string> sql;
  for (int day = 1; day <= 3; ++day) {
    std::filesystem::path dir =
        lake / "raw/events/year=2024/month=5" / ("day=" + std::to_string(day));
    std::filesystem::create_directories(dir);
    sql.push_back("COPY (SELECT 'e' || (i + " + std::to_string((day - 1) * 100) +
                  ") AS event_id, "
                  "'u' || (i % 30) AS user_id, CASE WHEN i % 10 = 0 THEN 'app_open' ELSE "
                  "'location' END AS event_type, "
                  "TIMESTAMP '2024-05-0" +
                  std::to_string(day) +
                  " 00:00:00' + to_minutes(i * 10) AS ts, "
                  "48.85 + (i % 7) * 0.001 AS lat, 2.35 + (i % 5) * 0.001 AS lon, "
                  "CAST(18 + (i % 30) * 2 AS INTEGER) AS age, "
                  "CASE (i % 30) % 3 WHEN 0 THEN 'f' WHEN 1 THEN 'm' ELSE 'x' END AS gender, "
                  "{'os': CASE WHEN i % 2 = 0 THEN 'android' ELSE 'ios' END, 'os_version': '14', "
                  "'model': 'p' || (i % 4)} AS device, "
                  "CASE WHEN i % 4 = 0 THEN ['a', 'b'] ELSE ['a'] END AS tags, "
                  "CAST(i + " +
                  std::to_string((day - 1) * 100) +
                  " AS BIGINT) AS _seq, "
                  "TIMESTAMP '2024-05-0" +
                  std::to_string(day) +
                  " 00:00:01' + to_minutes(i * 10) AS _arrival_time, "
                  "'event' AS _time_source FROM range(100) t(i)) TO '" +
                  (dir / "raw-events-1-0001.parquet").string() +
                  "' (FORMAT parquet, COMPRESSION zstd)");
  }
  std::filesystem::path pp = lake / "curated/poi_presence/year=2024/month=5/day=1";
  std::filesystem::create_directories(pp);
  sql.push_back(
      "COPY (SELECT 'poi' || (i % 3) AS poi_id, TIMESTAMP '2024-05-01 00:00:00' + to_hours(i // 3) "
      "AS window_start, "
      "CASE i % 2 WHEN 0 THEN '18-34' ELSE '35-54' END AS age_band, CASE i % 3 WHEN 0 THEN 'f' "
      "ELSE 'm' END AS gender, "
      "CAST(1 + i % 5 AS BIGINT) AS persons FROM range(12) t(i)) TO '" +
      (pp / "part-0.parquet").string() + "' (FORMAT parquet)");
  std::filesystem::path ep = lake / "errors/format-conversion-failed/year=2024/month=5/day=1";
  std::filesystem::create_directories(ep);
  sql.push_back(
      "COPY (SELECT CAST(1000 + i AS BIGINT) AS _seq, TIMESTAMP '2024-05-01 12:00:00' AS "
      "_arrival_time, "
      "'raw-events' AS stream, 'format-conversion-failed' AS error_output_type, "
      "CASE WHEN i = 0 THEN 'missing_field' ELSE 'type_mismatch' END AS error_code, 'bad' AS "
      "error_message, "
      "'$.lat' AS error_path, '{}' AS raw_payload FROM range(2) t(i)) TO '" +
      (ep / "err-0.parquet").string() + "' (FORMAT parquet)");
  RunDuckDb(sql);
}

inline schema::TableSchema TestSchema(
    const std::string& db, const std::string& name,
    const std::vector<std::pair<std::string, std::string>>& columns) {
  schema::TableSchema s;
  s.database = db;
  s.name = name;
  for (const auto& [n, t] : columns) {
    schema::Column c;
    c.name = n;
    auto parsed = schema::ParseType(t);
    if (!parsed.ok()) throw std::runtime_error("bad type " + t);
    c.type = parsed.value();
    s.columns.push_back(std::move(c));
  }
  return s;
}

inline std::vector<lake::ColumnInfo> DayKeys() {
  return {{"year", "bigint", false, "", false},
          {"month", "bigint", false, "", false},
          {"day", "bigint", false, "", false}};
}

// The registrations of the test lake, as the configuration would declare them.
inline std::vector<lake::TableRegistration> TestLakeTables() {
  std::vector<lake::TableRegistration> out;
  lake::TableRegistration events;
  events.schema = TestSchema("raw", "events",
                             {{"event_id", "string"},
                              {"user_id", "string"},
                              {"event_type", "string"},
                              {"ts", "timestamp"},
                              {"lat", "double"},
                              {"lon", "double"},
                              {"age", "int"},
                              {"gender", "string"},
                              {"device", "struct<os:string,os_version:string,model:string>"},
                              {"tags", "array<string>"}});
  events.location = "raw/events/";
  events.extra_columns = {{"_seq", "bigint", true, "", false},
                          {"_arrival_time", "timestamp", true, "", false},
                          {"_time_source", "string", true, "", false}};
  events.partition_keys = DayKeys();
  out.push_back(events);
  lake::TableRegistration presence;
  presence.schema = TestSchema("curated", "poi_presence",
                               {{"poi_id", "string"},
                                {"window_start", "timestamp"},
                                {"age_band", "string"},
                                {"gender", "string"},
                                {"persons", "bigint"}});
  presence.partition_keys = DayKeys();
  out.push_back(presence);
  lake::TableRegistration masked;
  masked.schema = TestSchema("curated", "events",
                             {{"event_id", "string"}, {"user_key", "string"}, {"ts", "timestamp"}});
  masked.partition_keys = DayKeys();
  out.push_back(masked);
  lake::TableRegistration errors;
  errors.schema = TestSchema("errors", "format_conversion_failed",
                             {{"_seq", "bigint"},
                              {"_arrival_time", "timestamp"},
                              {"stream", "string"},
                              {"error_output_type", "string"},
                              {"error_code", "string"},
                              {"error_message", "string"},
                              {"error_path", "string"},
                              {"raw_payload", "string"}});
  errors.location = "errors/format-conversion-failed/";
  errors.partition_keys = DayKeys();
  out.push_back(errors);
  return out;
}

}  // namespace inlet::testing
