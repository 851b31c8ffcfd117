#include "lake/query_engine.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "golden/test_lake.h"
#include "lake/lake_service.h"
#include "lake/result_format.h"
#include "support/test_support.h"

namespace inlet::lake {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

class QueryEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    lake_ = dir_.path() / "lake";
    fs::create_directories(lake_);
    testing::WriteTestEvents(lake_);
  }
  std::unique_ptr<LakeService> Open(QueryConfig q = {}) {
    LakeConfig cfg;
    cfg.query = q;
    auto s = LakeService::Open(cfg, lake_, testing::TestLakeTables());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  // Every file below the temp folder (to prove nothing was written).
  std::set<std::string> Files() {
    std::set<std::string> out;
    for (auto& e : fs::recursive_directory_iterator(dir_.path())) {
      if (e.is_regular_file() && e.path().string().find("_catalog") == std::string::npos)
        out.insert(e.path());
    }
    return out;
  }
  TempDir dir_;
  fs::path lake_;
};

TEST_F(QueryEngineTest, TablesByCatalogName) {
  auto s = Open();
  auto r =
      s->engine()->Query("SELECT count(*) AS n, count(DISTINCT user_id) AS users FROM raw.events");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 1u);
  EXPECT_EQ(r->columns[0].name, "n");
  EXPECT_EQ(r->columns[0].type, "BIGINT");
  EXPECT_EQ(r->rows[0][0].text, "300");
  EXPECT_EQ(r->rows[0][1].text, "30");
  EXPECT_GT(r->bytes_scanned, 0u);
  auto p = s->engine()->Query("SELECT sum(persons) FROM curated.poi_presence");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->rows[0][0].text, "33");
  auto e = s->engine()->Query(
      "SELECT error_code, count(*) FROM errors.format_conversion_failed GROUP BY 1 ORDER BY 1");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->rows.size(), 2u);
}

TEST_F(QueryEngineTest, FilesWithFewerColumnsAreReadWithNullsNotAnError) {
  auto s = Open();
  // A table from the configuration is read without union_by_name (faster:
  // only the files a filter keeps are opened) ...
  auto plain = s->engine()->Query("SELECT count(*) FROM raw.events WHERE day = 2");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->rows[0][0].text, "100");
  // ... until another writer drops in a file with fewer columns: the query
  // still answers, with NULLs for what that file lacks.
  fs::path day4 = lake_ / "raw/events/year=2024/month=5/day=4";
  fs::create_directories(day4);
  testing::RunDuckDb({"COPY (SELECT 'odd' AS event_id, 'u1' AS user_id) TO '" +
                      (day4 / "other-writer.parquet").string() + "' (FORMAT parquet)"});
  auto mixed = s->engine()->Query(
      "SELECT count(*), count(lat), max(event_id) FILTER (WHERE day = 4) FROM raw.events");
  ASSERT_TRUE(mixed.ok()) << mixed.status().ToString();
  EXPECT_EQ(mixed->rows[0][0].text, "301");
  EXPECT_EQ(mixed->rows[0][1].text, "300");
  EXPECT_EQ(mixed->rows[0][2].text, "odd");
}

TEST_F(QueryEngineTest, TableWithoutFilesIsAnEmptyTypedView) {
  auto s = Open();
  auto r = s->engine()->Query("SELECT * FROM curated.events");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows.size(), 0u);
  ASSERT_EQ(r->columns.size(), 6u);
  EXPECT_EQ(r->columns[2].name, "ts");
  EXPECT_EQ(r->columns[2].type, "TIMESTAMP");
  // Its first file makes it readable without a restart.
  fs::path dir = lake_ / "curated/events/year=2024/month=5/day=1";
  fs::create_directories(dir);
  testing::RunDuckDb(
      {"COPY (SELECT 'e1' AS event_id, 'k' AS user_key, TIMESTAMP '2024-05-01' AS ts) TO '" +
       (dir / "a.parquet").string() + "' (FORMAT parquet)"});
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto again = s->engine()->Query("SELECT event_id, day FROM curated.events");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_EQ(again->rows.size(), 1u);
  EXPECT_EQ(again->rows[0][1].text, "1");
}

TEST_F(QueryEngineTest, ATableLeavesOutTheTablesInsideItsFolder) {
  // errors/ holds a processor's rejected events by category and, inside it,
  // the delivery streams' errors/format-conversion-failed/ (other columns):
  // each table reads its own files only.
  auto tables = testing::TestLakeTables();
  TableRegistration rejected;
  rejected.schema.database = "errors";
  rejected.schema.name = "rejected";
  rejected.schema.columns = {{.name = "category", .type = *schema::ParseType("string")},
                             {.name = "payload", .type = *schema::ParseType("string")}};
  rejected.location = "errors/";
  tables.push_back(rejected);
  auto write = [&](const std::string& category, int rows) {
    fs::path dir = lake_ / "errors" / category / "year=2024/month=5/day=1";
    fs::create_directories(dir);
    testing::RunDuckDb({"COPY (SELECT '" + category + "' AS category, 'x' AS payload FROM range(" +
                        std::to_string(rows) + ")) TO '" + (dir / "a.parquet").string() +
                        "' (FORMAT parquet)"});
  };
  write("invalid_value", 3);
  LakeConfig cfg;
  auto s = LakeService::Open(cfg, lake_, tables);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::string by_category =
      "SELECT category, count(*) FROM errors.rejected GROUP BY 1 ORDER BY 1";
  auto r = (*s)->engine()->Query(by_category);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 1u);
  EXPECT_EQ(r->rows[0][0].text, "invalid_value");
  EXPECT_EQ(r->rows[0][1].text, "3");
  auto e = (*s)->engine()->Query("SELECT count(*) FROM errors.format_conversion_failed");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_NE(e->rows[0][0].text, "0");
  // A category's first file is read without a restart.
  write("too_large", 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  r = (*s)->engine()->Query(by_category);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 2u);
  EXPECT_EQ(r->rows[1][0].text, "too_large");
  EXPECT_EQ(r->rows[1][1].text, "2");
}

TEST_F(QueryEngineTest, PartitionFilterPrunesFiles) {
  auto s = Open();
  auto r = s->engine()->Query("EXPLAIN ANALYZE SELECT count(*) FROM raw.events WHERE day = 2");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string plan;
  for (const auto& row : r->rows) plan += row.back().text;
  EXPECT_NE(plan.find("Scanning Files: 1/3"), std::string::npos) << plan;
  auto all = s->engine()->Query("SELECT count(*), sum(age) FROM raw.events");
  auto one = s->engine()->Query("SELECT count(*), sum(age) FROM raw.events WHERE day = 2");
  ASSERT_TRUE(all.ok() && one.ok());
  EXPECT_EQ(one->rows[0][0].text, "100");
  EXPECT_LT(one->bytes_scanned, all->bytes_scanned);
}

TEST_F(QueryEngineTest, NestedValuesAndTypes) {
  auto s = Open();
  auto r = s->engine()->Query(
      "SELECT device, tags, ts, lat, age, gender IS NULL AS missing FROM raw.events WHERE event_id "
      "= 'e0'");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 1u);
  EXPECT_EQ(r->rows[0][0].kind, CellKind::kJson);
  EXPECT_EQ(r->rows[0][0].text, R"({"os":"android","os_version":"14","model":"p0"})");
  EXPECT_EQ(r->rows[0][1].text, R"(["a","b"])");
  EXPECT_EQ(r->rows[0][2].text, "2024-05-01 00:00:00");
  EXPECT_EQ(r->rows[0][3].text, "48.85");
  EXPECT_EQ(r->rows[0][4].kind, CellKind::kInt);
  EXPECT_EQ(r->rows[0][5].text, "false");
  EXPECT_EQ(FormatJson(r.value()).find("\"rows\":[[{\"os\":\"android\""),
            FormatJson(r.value()).find("\"rows\""));
}

// Wide integers, decimals and enums are read straight from DuckDB's result
// and must give the same text as DuckDB's own casts.
TEST_F(QueryEngineTest, WideNumbersDecimalsAndEnumsMatchDuckDbCasts) {
  auto s = Open();
  auto r = s->engine()->Query(
      "SELECT CAST('-170141183460469231731687303715884105727' AS HUGEINT) AS h, "
      "CAST(-2 AS HUGEINT) AS h2, CAST(NULL AS HUGEINT) AS hn, "
      "CAST('18446744073709551615' AS UBIGINT) AS ub, "
      "CAST('340282366920938463463374607431768211455' AS UHUGEINT) AS uh, "
      "CAST(-12.345 AS DECIMAL(5,3)) AS d1, CAST(-12.345 AS DECIMAL(5,3))::DOUBLE AS d1c, "
      "CAST(1234567.891 AS DECIMAL(18,3)) AS d2, CAST(1234567.891 AS DECIMAL(18,3))::DOUBLE AS "
      "d2c, CAST('12345678901234567890123.4567' AS DECIMAL(38,4)) AS d3, "
      "CAST('12345678901234567890123.4567' AS DECIMAL(38,4))::DOUBLE AS d3c, "
      "CAST('b' AS ENUM('a', 'b')) AS e, sum(age) AS total, sum(age)::VARCHAR AS total_text "
      "FROM raw.events");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 1u);
  const auto& row = r->rows[0];
  EXPECT_EQ(r->columns[0].type, "HUGEINT");
  EXPECT_EQ(row[0].kind, CellKind::kInt);
  EXPECT_EQ(row[0].text, "-170141183460469231731687303715884105727");
  EXPECT_EQ(row[1].text, "-2");
  EXPECT_EQ(row[2].kind, CellKind::kNull);
  EXPECT_EQ(row[3].text, "18446744073709551615");
  EXPECT_EQ(row[4].text, "340282366920938463463374607431768211455");
  EXPECT_EQ(r->columns[5].type, "DECIMAL(5,3)");
  EXPECT_EQ(row[5].kind, CellKind::kDouble);
  EXPECT_EQ(row[5].text, "-12.345");
  EXPECT_EQ(row[5].text, row[6].text);
  EXPECT_EQ(row[7].text, row[8].text);
  EXPECT_EQ(row[9].text, row[10].text);
  EXPECT_EQ(row[11].kind, CellKind::kString);
  EXPECT_EQ(row[11].text, "b");
  EXPECT_EQ(row[12].kind, CellKind::kInt);
  EXPECT_EQ(row[12].text, row[13].text);
}

// A result with a nested column is converted by DuckDB (second run under a
// projection); the other columns keep their values.
TEST_F(QueryEngineTest, NestedNextToWideNumbers) {
  auto s = Open();
  auto r = s->engine()->Query(
      "SELECT [1, 2] AS l, CAST(5 AS HUGEINT) AS h, CAST(1.5 AS DECIMAL(4,1)) AS d, "
      "{'a': 'x'} AS st, CAST('00000000-0000-0000-0000-000000000001' AS UUID) AS u");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 1u);
  EXPECT_EQ(r->rows[0][0].kind, CellKind::kJson);
  EXPECT_EQ(r->rows[0][0].text, "[1,2]");
  EXPECT_EQ(r->rows[0][1].text, "5");
  EXPECT_EQ(r->rows[0][2].text, "1.5");
  EXPECT_EQ(r->rows[0][3].text, R"({"a":"x"})");
  EXPECT_EQ(r->rows[0][4].text, "00000000-0000-0000-0000-000000000001");
  EXPECT_EQ(r->columns[3].type, R"(STRUCT("a" VARCHAR))");
}

TEST_F(QueryEngineTest, ParametersAreRefusedWithAClearMessage) {
  auto s = Open();
  auto r = s->engine()->Query("SELECT $1 + 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(HttpStatusOf(r.status()), 400);
  EXPECT_NE(r.status().message().find("inline the values"), std::string::npos)
      << r.status().ToString();
}

TEST_F(QueryEngineTest, RowLimitTruncates) {
  QueryConfig q;
  q.max_rows = 50;
  auto s = Open(q);
  auto r = s->engine()->Query("SELECT event_id FROM raw.events ORDER BY _seq", 10);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rows.size(), 10u);
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->rows[9][0].text, "e9");
  auto capped = s->engine()->Query("SELECT event_id FROM raw.events", 1000);
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(capped->rows.size(), 50u);
  auto exact = s->engine()->Query("SELECT 1", 1);
  ASSERT_TRUE(exact.ok());
  EXPECT_FALSE(exact->truncated);
}

TEST_F(QueryEngineTest, TimeoutStopsTheQueryWithAClearMessage) {
  QueryConfig q;
  q.timeout = std::chrono::milliseconds(300);
  auto s = Open(q);
  auto start = std::chrono::steady_clock::now();
  auto r = s->engine()->Query("SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
  EXPECT_NE(r.status().message().find("query.timeout"), std::string::npos);
  EXPECT_LT(took, std::chrono::seconds(10));
  // The engine still answers afterwards.
  EXPECT_TRUE(s->engine()->Query("SELECT 1").ok());
}

TEST_F(QueryEngineTest, ConcurrencyLimitRefusesTheExtraQuery) {
  QueryConfig q;
  q.max_concurrent = 1;
  q.timeout = std::chrono::milliseconds(1500);
  auto s = Open(q);
  auto slow = std::async(std::launch::async, [&] {
    return s->engine()->Query("SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3");
  });
  while (s->engine()->running() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto r = s->engine()->Query("SELECT 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(HttpStatusOf(r.status()), 429);
  EXPECT_FALSE(slow.get().ok());
  EXPECT_TRUE(s->engine()->Query("SELECT 1").ok());
}

TEST_F(QueryEngineTest, MemoryLimitStopsTheQuery) {
  QueryConfig q;
  q.memory_limit = 64ull << 20;
  q.threads = 1;
  auto s = Open(q);
  auto r =
      s->engine()->Query("SELECT list(repeat('x', 100) || i::VARCHAR) FROM range(5000000) t(i)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTooLarge) << r.status().ToString();
  EXPECT_NE(r.status().message().find("query.memory_limit"), std::string::npos);
}

TEST_F(QueryEngineTest, SandboxRefusesWritesAndReadsOutsideTheLake) {
  auto s = Open();
  const fs::path outside = dir_.path() / "stolen.csv";
  const std::string inside = (lake_ / "raw/events/x.csv").string();
  const std::vector<std::string> attempts = {
      "COPY (SELECT * FROM raw.events) TO '" + outside.string() + "'",
      "COPY (SELECT * FROM raw.events) TO '" + inside + "'",
      "COPY raw.events TO '" + inside + "'",
      "EXPORT DATABASE '" + (dir_.path() / "exp").string() + "'",
      "ATTACH '" + (dir_.path() / "x.db").string() + "' AS x",
      "ATTACH ':memory:' AS m",
      "INSTALL httpfs",
      "LOAD httpfs",
      "LOAD '/tmp/evil.duckdb_extension'",
      "CREATE TABLE t AS SELECT 1",
      "CREATE VIEW raw.v AS SELECT 1",
      "CREATE OR REPLACE VIEW raw.events AS SELECT 1 AS x",
      "DROP VIEW raw.events",
      "INSERT INTO raw.events SELECT * FROM raw.events",
      "SET memory_limit = '100GB'",
      "SET enable_external_access = true",
      "RESET lock_configuration",
      "PRAGMA memory_limit='10GB'",
      "CALL pragma_version()",
      "SELECT * FROM read_csv('/etc/passwd')",
      "SELECT * FROM read_csv_auto('/etc/passwd')",
      "SELECT * FROM read_text('/etc/passwd')",
      "SELECT * FROM read_blob('/etc/hostname')",
      "SELECT * FROM glob('/*')",
      "SELECT * FROM read_parquet('/**/*.parquet')",
      "SELECT * FROM read_text('" + (lake_ / "../../../../etc/passwd").string() + "')",
      "SELECT * FROM read_json('" + outside.string() + "')",
      "EXPLAIN ANALYZE COPY (SELECT 1) TO '" + inside + "'",
      "SELECT 1; COPY (SELECT 1) TO '" + inside + "'",
      "DETACH memory",
      "CHECKPOINT",
      "VACUUM",
      "BEGIN TRANSACTION",
      "USE raw",
  };
  auto before = Files();
  for (const auto& sql : attempts) {
    auto r = s->engine()->Query(sql);
    ASSERT_FALSE(r.ok()) << "allowed: " << sql;
    int http = HttpStatusOf(r.status());
    EXPECT_TRUE(http >= 400 && http < 500) << sql << " -> " << http << " " << r.status().message();
    EXPECT_FALSE(r.status().message().empty());
  }
  EXPECT_EQ(Files(), before);
  EXPECT_FALSE(fs::exists(outside));
  // The views are intact and the configuration did not change.
  auto n = s->engine()->Query("SELECT count(*) FROM raw.events");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->rows[0][0].text, "300");
  auto m = s->engine()->Query("SELECT current_setting('enable_external_access')");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->rows[0][0].text, "false");
}

TEST_F(QueryEngineTest, ReadOnlyStatementsThatAreAllowed) {
  auto s = Open();
  for (const std::string sql :
       {"WITH x AS (SELECT 1 AS a) SELECT * FROM x", "DESCRIBE raw.events", "SHOW TABLES",
        "FROM raw.events LIMIT 1", "VALUES (1), (2)", "/* c */ -- line\n(SELECT 1)", "SELECT 1;",
        "SUMMARIZE curated.poi_presence", "EXPLAIN SELECT * FROM raw.events"}) {
    auto r = s->engine()->Query(sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().ToString();
  }
}

TEST_F(QueryEngineTest, SqlErrorsAre400WithDuckDbsMessage) {
  auto s = Open();
  auto r = s->engine()->Query("SELECT nope FROM raw.events");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(HttpStatusOf(r.status()), 400);
  EXPECT_NE(r.status().message().find("nope"), std::string::npos);
  auto missing = s->engine()->Query("SELECT * FROM raw.nothing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(HttpStatusOf(missing.status()), 400);
}

TEST_F(QueryEngineTest, ParquetExportOnlyToTheDeclaredFile) {
  LakeConfig cfg;
  fs::path out = dir_.path() / "out.parquet";
  auto s = LakeService::Open(cfg, lake_, testing::TestLakeTables(), EngineOptions{{out}});
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->engine()
                  ->ExportParquet("SELECT gender, count(*) AS n FROM raw.events GROUP BY 1", out)
                  .ok());
  EXPECT_TRUE(fs::exists(out));
  EXPECT_FALSE((*s)->engine()->ExportParquet("SELECT 1", dir_.path() / "other.parquet").ok());
  EXPECT_FALSE((*s)->engine()->ExportParquet("COPY (SELECT 1) TO 'x'", out).ok());
}

TEST(LeadingKeywordTest, SkipsCommentsAndExplain) {
  EXPECT_EQ(LeadingKeyword("  -- x\n /* y */ select 1", false), "SELECT");
  EXPECT_EQ(LeadingKeyword("EXPLAIN ANALYZE COPY x", true), "COPY");
  EXPECT_EQ(LeadingKeyword("explain select 1", true), "SELECT");
  EXPECT_EQ(LeadingKeyword("((SELECT 1))", false), "SELECT");
}

}  // namespace
}  // namespace inlet::lake
