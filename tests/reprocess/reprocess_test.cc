// Acceptance test of re-processing (issue 6): a raw lake written with DuckDB
// (the columns of raw.events plus _seq, _arrival_time, _time_source, _extra),
// re-processed for one day with a POI radius of 150 m as v1, then with 400 m
// as v2. v2's counts equal a brute-force DuckDB oracle (great-circle distance,
// 1-minute windows, distinct users per window / POI / age band / gender), v1's
// files are unchanged, a re-run of v2 gives the same files, and switching the
// current version makes queries by catalog name read v2.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "cli/lake_commands.h"
#include "cli/reprocess_command.h"
#include "lake/lake_service.h"
#include "lake/versions.h"
#include "support/duckdb_query.h"
#include "support/test_support.h"

namespace inlet {
namespace {
namespace fs = std::filesystem;
using testing::DuckQuery;
using testing::Rows;

constexpr char kPois[] = R"(id,name,lat,lon,radius_m,category
# three landmarks of midtown Manhattan
times_sq,Times Square,40.7580,-73.9855,RADIUS,square
empire,Empire State Building,40.7484,-73.9857,RADIUS,building
bryant,Bryant Park,40.7536,-73.9832,RADIUS,park
)";

std::string Config(const fs::path& dir, const std::string& poi_file) {
  return "server:\n  listen: 127.0.0.1:18097\n  auth: false\n"
         "storage:\n  data_dir: " +
         (dir / "data").string() + R"(
tables:
  raw.events:
    columns:
      - {name: event_id, type: string, required: true}
      - {name: user_id, type: string, required: true}
      - {name: ts, type: timestamp, required: true}
      - {name: lat, type: double, required: true, min: -90, max: 90}
      - {name: lon, type: double, required: true, min: -180, max: 180}
      - {name: age, type: int, min: 0, max: 120}
      - {name: gender, type: string}
topics:
  events: {table: raw.events}
subscriptions:
  raw-delivery: {topic: events}
  processing: {topic: events}
delivery_streams:
  raw-events: {subscription: raw-delivery, table: raw.events, time_field: ts, keep_unknown_fields: true}
processors:
  presence:
    subscription: processing
    table: raw.events
    mapping:
      user_id: $.user_id
      ts: $.ts
      lat: $.lat
      lon: $.lon
      age: {path: $.age, derive: age}
      gender: {path: $.gender, derive: gender}
    masking:
      key_file: pseudonym.key
      create_key: true
      key_id: test
      rules:
        - {column: user_id, op: pseudonym}
        - {column: lat, op: coarsen_location, lon_column: lon, grid_m: 250}
    aggregate:
      poi_file: )" +
         poi_file + R"(
      window: 1m
      allowed_lateness: 10s
      age_bands: [18, 25, 35, 45, 55, 65]
)";
}

// Writes one raw file of `n` events from `first_ts`, `step_ms` apart.
void WriteRawFile(const fs::path& lake, const std::string& day_path, const std::string& name,
                  int64_t first_seq, int n, const std::string& first_ts, int step_ms) {
  fs::path dir = lake / "raw/events" / day_path;
  fs::create_directories(dir);
  const std::string i = "i";
  DuckQuery(
      "COPY (SELECT 'e' || (i + " + std::to_string(first_seq) +
      ") AS event_id, 'u' || (i % 200) AS user_id, "
      "TIMESTAMP '" +
      first_ts + "' + to_milliseconds(i * " + std::to_string(step_ms) +
      ") AS ts, "
      "CASE WHEN i = 17 THEN 95.0 ELSE 40.7530 + ((hash(i, 1) % 20001)::DOUBLE / 20000 - 0.5) * "
      "0.012 END AS lat, "
      "-73.9856 + ((hash(i, 2) % 20001)::DOUBLE / 20000 - 0.5) * 0.016 AS lon, "
      "CASE WHEN i % 200 % 10 = 0 THEN NULL ELSE (15 + (i % 200) * 7 % 60)::INTEGER END AS age, "
      "(['F', 'male', 'm', 'Woman', ' f ', 'x', NULL])[i % 200 % 7 + 1] AS gender, "
      "CASE WHEN i % 3 = 0 THEN '{\"app\":\"v' || (i % 5) || '\"}' END AS _extra, "
      "(i + " +
      std::to_string(first_seq) +
      ")::BIGINT AS _seq, "
      "TIMESTAMP '" +
      first_ts + "' + to_milliseconds(i * " + std::to_string(step_ms) +
      " + 1000) AS _arrival_time, 'event' AS _time_source FROM range(" + std::to_string(n) +
      ") t(" + i + ")) TO '" + (dir / name).string() + "' (FORMAT parquet, COMPRESSION zstd)");
}

// The expected rows of curated/poi_presence for the day, computed from the raw files.
Rows Oracle(const fs::path& lake, const fs::path& pois) {
  return DuckQuery(
      "WITH ev AS (SELECT user_id, ts, lat, lon, age, gender FROM read_parquet('" +
      (lake / "raw/events").string() +
      "/**/*.parquet', hive_partitioning = true) WHERE ts >= TIMESTAMP '2024-05-01' AND ts < "
      "TIMESTAMP '2024-05-02' AND lat BETWEEN -90 AND 90), "
      "poi AS (SELECT * FROM read_csv('" +
      pois.string() +
      "', header = true, delim = ',', comment = '#', auto_detect = false, columns = {'id': "
      "'VARCHAR', 'name': 'VARCHAR', 'lat': "
      "'DOUBLE', 'lon': 'DOUBLE', 'radius_m': 'DOUBLE', 'category': 'VARCHAR'})), "
      "j AS (SELECT time_bucket(INTERVAL 1 minute, ts) AS w, poi.id AS poi_id, "
      "CASE WHEN age IS NULL OR age < 0 THEN 'unknown' WHEN age < 18 THEN '0-17' WHEN age < 25 "
      "THEN '18-24' WHEN age < 35 THEN '25-34' WHEN age < 45 THEN '35-44' WHEN age < 55 THEN "
      "'45-54' WHEN age < 65 THEN '55-64' ELSE '65+' END AS band, "
      "CASE WHEN lower(trim(gender)) IN ('f', 'female', 'woman', 'w', '2') THEN 'female' "
      "WHEN lower(trim(gender)) IN ('m', 'male', 'man', '1') THEN 'male' ELSE 'unknown' END AS g, "
      "user_id FROM ev, poi WHERE 2 * 6371008.8 * asin(sqrt(pow(sin(radians(poi.lat - ev.lat) / "
      "2), 2) + cos(radians(ev.lat)) * cos(radians(poi.lat)) * pow(sin(radians(poi.lon - ev.lon) "
      "/ 2), 2))) <= poi.radius_m) "
      "SELECT strftime(w, '%Y-%m-%d %H:%M:%S'), poi_id, band, g, count(DISTINCT user_id), "
      "count(*) FROM j GROUP BY ALL ORDER BY ALL");
}

Rows Presence(const fs::path& dir) {
  return DuckQuery(
      "SELECT strftime(window_start, '%Y-%m-%d %H:%M:%S'), poi_id, age_band, gender, persons, "
      "events FROM read_parquet('" +
      dir.string() + "/**/*.parquet', hive_partitioning = false) ORDER BY ALL");
}

// Every file under `dir` with its bytes.
std::map<std::string, std::string> Files(const fs::path& dir) {
  std::map<std::string, std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file())
      out[fs::relative(e.path(), dir).string()] = testing::ReadFile(e.path());
  return out;
}

TEST(ParseTimeArgument, AcceptsDatesAndRfc3339) {
  EXPECT_EQ(cli::ParseTimeArgument("1970-01-02").value(), 86'400'000'000);
  EXPECT_EQ(cli::ParseTimeArgument("2024-05-01T00:00:00Z").value(), 1'714'521'600'000'000);
  EXPECT_EQ(cli::ParseTimeArgument("2024-05-01T02:00:00.5+02:00").value(), 1'714'521'600'500'000);
  EXPECT_EQ(cli::ParseTimeArgument("2024-05-01T00:30").value(), 1'714'523'400'000'000);
  EXPECT_FALSE(cli::ParseTimeArgument("2024-13-01").ok());
  EXPECT_FALSE(cli::ParseTimeArgument("yesterday").ok());
  EXPECT_FALSE(cli::ParseTimeArgument("2024-05-01T10").ok());
}

TEST(Reprocess, NewRadiusMatchesOracleAndOldVersionIsUnchanged) {
  testing::TempDir tmp;
  const fs::path dir = tmp.path();
  const fs::path lake = dir / "data" / "lake";
  std::string p1 = kPois, p2 = kPois;
  for (std::string* p : {&p1, &p2}) {
    for (size_t at; (at = p->find("RADIUS")) != std::string::npos;)
      p->replace(at, 6, p == &p1 ? "150" : "400");
  }
  testing::WriteFile(dir / "pois-150.csv", p1);
  testing::WriteFile(dir / "pois-400.csv", p2);
  testing::WriteFile(dir / "v1.yaml", Config(dir, "pois-150.csv"));
  testing::WriteFile(dir / "v2.yaml", Config(dir, "pois-400.csv"));

  // The day re-processed (6000 events over an hour), and events just outside it.
  WriteRawFile(lake, "year=2024/month=05/day=01", "raw-events-1-a.parquet", 1000, 3000,
               "2024-05-01 10:00:00", 600);
  WriteRawFile(lake, "year=2024/month=05/day=01", "raw-events-1-b.parquet", 4000, 3000,
               "2024-05-01 10:30:00", 600);
  WriteRawFile(lake, "year=2024/month=04/day=30", "raw-events-1-c.parquet", 1, 300,
               "2024-04-30 23:55:00", 1000);
  WriteRawFile(lake, "year=2024/month=05/day=02", "raw-events-1-d.parquet", 8000, 300,
               "2024-05-02 00:00:00", 1000);

  cli::ReprocessOptions o;
  o.from_us = cli::ParseTimeArgument("2024-05-01").value();
  o.to_us = cli::ParseTimeArgument("2024-05-02").value();

  auto c1 = config::LoadConfig(dir / "v1.yaml");
  ASSERT_TRUE(c1.ok()) << c1.status().message();
  o.version = "v1";
  auto r1 = cli::Reprocess(c1.value(), o);
  ASSERT_TRUE(r1.ok()) << r1.status().message();
  EXPECT_EQ(r1->rows, 6000u);
  EXPECT_EQ(r1->rejected, 2u);  // lat 95 in each file of the day: out_of_range
  const fs::path v1_dir = lake / "curated/poi_presence_versions/version=v1";
  const fs::path v2_dir = lake / "curated/poi_presence_versions/version=v2";
  Rows v1_rows = Presence(v1_dir);
  EXPECT_EQ(v1_rows, Oracle(lake, dir / "pois-150.csv"));
  EXPECT_FALSE(Files(lake / "errors_versions/version=v1/out_of_range").empty());
  auto v1_files = Files(v1_dir);
  ASSERT_FALSE(v1_files.empty());

  auto c2 = config::LoadConfig(dir / "v2.yaml");
  ASSERT_TRUE(c2.ok()) << c2.status().message();
  o.version = "v2";
  auto r2 = cli::Reprocess(c2.value(), o);
  ASSERT_TRUE(r2.ok()) << r2.status().message();
  Rows oracle2 = Oracle(lake, dir / "pois-400.csv");
  ASSERT_GT(oracle2.size(), 100u);
  Rows v2_rows = Presence(v2_dir);
  EXPECT_EQ(v2_rows, oracle2);
  EXPECT_NE(v2_rows, v1_rows);  // the radius matters
  EXPECT_EQ(Files(v1_dir), v1_files) << "v1 changed";

  // Idempotent: the same version again gives the same files and rows.
  auto v2_files = Files(v2_dir);
  auto again = cli::Reprocess(c2.value(), o);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->rows, r2->rows);
  EXPECT_EQ(Files(v2_dir), v2_files) << "a re-run of v2 wrote different files";
  EXPECT_EQ(Presence(v2_dir), oracle2);
  EXPECT_EQ(Files(v1_dir), v1_files) << "v1 changed";
  // The replay has its own exactly-once state, never the live processor's.
  EXPECT_FALSE(fs::exists(lake / "_state/processor-presence.json"));
  EXPECT_TRUE(fs::exists(lake / "_state/processor-presence.v2.json"));

  // Switching is one command; queries by catalog name then read v2.
  int code = -1;
  {
    CLI::App app;
    cli::AddReprocessCommand(app, code);
    app.parse("versions use curated.poi_presence v2 --config " + (dir / "v2.yaml").string(), false);
    EXPECT_EQ(code, 0);
  }
  auto service = lake::LakeService::Open(c2->lake, c2->storage.lake_dir,
                                         cli::LakeTablesFromConfig(c2.value()));
  ASSERT_TRUE(service.ok()) << service.status().message();
  auto versions = lake::TableVersions::Open((*service)->catalog());
  ASSERT_TRUE(versions.ok());
  ASSERT_TRUE((*versions)->ApplyCurrent().ok());
  auto list = (*versions)->List("curated", "poi_presence");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].version, "live");
  EXPECT_EQ((*list)[2].version, "v2");
  EXPECT_TRUE((*list)[2].current);
  auto table = (*service)->catalog()->GetTable("curated", "poi_presence");
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->location, "curated/poi_presence_versions/version=v2/");
  ASSERT_TRUE((*service)->engine()->Refresh().ok());
  auto sum = (*service)->engine()->Query("SELECT sum(persons) FROM curated.poi_presence");
  ASSERT_TRUE(sum.ok()) << sum.status().message();
  uint64_t expected = 0;
  for (const auto& row : oracle2) expected += std::stoull(row[4]);
  EXPECT_EQ(sum->rows.at(0).at(0).text, std::to_string(expected));

  // And back to the live folder, which still reads (versions are not inside it).
  fs::create_directories(lake / "curated/poi_presence/year=2024/month=05/day=01");
  fs::copy_file(v1_dir / v1_files.begin()->first,
                lake / "curated/poi_presence/year=2024/month=05/day=01/presence-live.parquet");
  ASSERT_TRUE((*versions)->Use("curated", "poi_presence", "live").ok());
  EXPECT_EQ((*service)->catalog()->GetTable("curated", "poi_presence")->location,
            "curated/poi_presence/");
  ASSERT_TRUE((*service)->engine()->Refresh().ok());
  auto live = (*service)->engine()->Query("SELECT count(*) FROM curated.poi_presence");
  ASSERT_TRUE(live.ok()) << live.status().message();
  EXPECT_EQ(live->rows.at(0).at(0).text,
            DuckQuery("SELECT count(*) FROM read_parquet('" +
                      (v1_dir / v1_files.begin()->first).string() + "')")[0][0]);
  EXPECT_FALSE((*versions)->Use("curated", "poi_presence", "v9").ok());
}

TEST(Reprocess, RejectsBadVersionAndRange) {
  testing::TempDir tmp;
  testing::WriteFile(tmp.path() / "pois.csv", "id,name,lat,lon,radius_m,category\na,A,1,1,10,x\n");
  testing::WriteFile(tmp.path() / "c.yaml", Config(tmp.path(), "pois.csv"));
  auto c = config::LoadConfig(tmp.path() / "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  cli::ReprocessOptions o;
  o.from_us = 0;
  o.to_us = 1;
  o.version = "../x";
  EXPECT_EQ(cli::Reprocess(c.value(), o).status().code(), StatusCode::kInvalidArgument);
  o.version = "live";
  EXPECT_EQ(cli::Reprocess(c.value(), o).status().code(), StatusCode::kInvalidArgument);
  o.version = "v1";
  o.to_us = 0;
  EXPECT_EQ(cli::Reprocess(c.value(), o).status().code(), StatusCode::kInvalidArgument);
  // The command line: a bad time is a usage error (2), a good run succeeds (0).
  for (auto [args, expected] : std::vector<std::pair<std::string, int>>{
           {"reprocess --from yesterday --to 2024-05-02 --version v1", 2},
           {"reprocess --from 2024-05-01 --to 2024-05-02 --version v1 --no-progress", 0}}) {
    int code = -1;
    CLI::App app;
    cli::AddReprocessCommand(app, code);
    app.parse(args + " --config " + (tmp.path() / "c.yaml").string(), false);
    EXPECT_EQ(code, expected) << args;
  }
  // An empty raw lake is not an error: nothing to replay.
  o.to_us = 1;
  auto r = cli::Reprocess(c.value(), o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->rows, 0u);
}

}  // namespace
}  // namespace inlet

namespace inlet {
namespace {

// Throughput of a replay (not run by default: --gtest_also_run_disabled_tests).
TEST(ReprocessBench, DISABLED_MillionRows) {
  testing::TempDir tmp;
  const fs::path lake = tmp.path() / "data" / "lake";
  std::string pois = kPois;
  for (size_t at; (at = pois.find("RADIUS")) != std::string::npos;) pois.replace(at, 6, "300");
  testing::WriteFile(tmp.path() / "pois.csv", pois);
  testing::WriteFile(tmp.path() / "c.yaml", Config(tmp.path(), "pois.csv"));
  constexpr int kRows = 1'000'000;
  WriteRawFile(lake, "year=2024/month=05/day=01", "raw-events-1-big.parquet", 1, kRows,
               "2024-05-01 05:00:00", 50);
  auto c = config::LoadConfig(tmp.path() / "c.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  cli::ReprocessOptions o;
  o.from_us = cli::ParseTimeArgument("2024-05-01").value();
  o.to_us = cli::ParseTimeArgument("2024-05-02").value();
  o.version = "bench";
  auto start = std::chrono::steady_clock::now();
  auto r = cli::Reprocess(c.value(), o);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->rows, uint64_t(kRows));
  std::printf("reprocess: %d rows in %.2f s = %.0f rows/s\n", kRows, secs, kRows / secs);
}

}  // namespace
}  // namespace inlet
