// Correctness of poi_presence against an independent oracle: brute-force
// DuckDB SQL (haversine distance, time_bucket windows, CASE age bands) over
// the same input, for the real Citi Bike trips of ../shared and for
// generated data. Runs the real stage chain (EventProcessor) and reads the
// Parquet it wrote to a local lake.
#include <duckdb.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "process/event_processor.h"
#include "process/poi_index.h"
#include "schema/time_util.h"
#include "storage/local_object_store.h"
#include "support/test_support.h"

namespace inlet::process {
namespace {

using inlet::testing::TempDir;
using inlet::testing::WriteFile;

// Runs SQL and returns the rows as text.
class Sql {
 public:
  Sql() {
    EXPECT_EQ(duckdb_open(nullptr, &db_), DuckDBSuccess);
    EXPECT_EQ(duckdb_connect(db_, &con_), DuckDBSuccess);
  }
  ~Sql() {
    duckdb_disconnect(&con_);
    duckdb_close(&db_);
  }
  std::vector<std::string> Rows(const std::string& sql) {
    duckdb_result r;
    std::vector<std::string> out;
    if (duckdb_query(con_, sql.c_str(), &r) != DuckDBSuccess) {
      ADD_FAILURE() << duckdb_result_error(&r) << "\n" << sql;
      duckdb_destroy_result(&r);
      return out;
    }
    for (idx_t row = 0; row < duckdb_row_count(&r); ++row) {
      std::string line;
      for (idx_t c = 0; c < duckdb_column_count(&r); ++c) {
        char* v = duckdb_value_varchar(&r, c, row);
        line += (c ? "|" : "") + std::string(v ? v : "NULL");
        duckdb_free(v);
      }
      out.push_back(line);
    }
    duckdb_destroy_result(&r);
    return out;
  }

 private:
  duckdb_database db_ = nullptr;
  duckdb_connection con_ = nullptr;
};

schema::TableSchema RawEvents() {
  schema::TableSchema t;
  t.database = "raw";
  t.name = "events";
  auto col = [&](const char* n, const char* type, bool req) {
    t.columns.push_back({.name = n, .type = *schema::ParseType(type), .required = req});
  };
  col("event_id", "string", true);
  col("user_id", "string", true);
  col("ts", "timestamp", true);
  col("lat", "double", true);
  col("lon", "double", true);
  col("birth_date", "date", false);
  col("gender", "string", false);
  return t;
}

ProcessorConfig Config(const std::filesystem::path& poi_file,
                       const std::filesystem::path& key_file) {
  ProcessorConfig c;
  c.name = "presence";
  c.table = "raw.events";
  c.mapping = {{"event_id", "$.event_id"},
               {"user_id", "$.user_id"},
               {"ts", "$.ts"},
               {"lat", "$.lat"},
               {"lon", "$.lon"},
               {"age", "", Derive::kAge, "$.birth_date"},
               {"gender", "$.gender", Derive::kGender}};
  c.masking.key_file = key_file.string();
  c.masking.key_id = "test-key";
  MaskRule pseudo;
  pseudo.column = "user_id", pseudo.op = MaskOp::kPseudonym;
  MaskRule event;
  event.column = "event_id", event.op = MaskOp::kHash;
  MaskRule band;
  band.column = "age", band.op = MaskOp::kGeneralizeAge;
  MaskRule coarse;
  coarse.column = "lat", coarse.op = MaskOp::kCoarsenLocation, coarse.lon_column = "lon",
  coarse.grid_m = 500;
  c.masking.rules = {pseudo, event, band, coarse};
  c.aggregate.enabled = true;
  c.aggregate.poi_file = poi_file.string();
  c.aggregate.allowed_lateness = std::chrono::milliseconds(0);
  return c;
}

struct Event {
  std::string ts;  // "YYYY-MM-DD HH:MM:SS"
  std::string json;
};

// Runs `events` (sorted by time) through the stage chain in batches and
// closes every window at the end.
void RunPipeline(const ProcessorConfig& config, const std::vector<Event>& events,
                 const std::filesystem::path& lake_dir, BatchResult* total) {
  auto lake = storage::LocalObjectStore::Open(lake_dir);
  ASSERT_TRUE(lake.ok());
  schema::TableSchema table = RawEvents();
  auto p = EventProcessor::Create(config, table, lake->get(), nullptr, nullptr);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto worker = (*p)->NewWorker();
  ASSERT_TRUE(worker.ok());
  std::vector<bus::Message> messages(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    messages[i].seq = i + 1;
    messages[i].arrival_us = 1'700'000'000'000'000 + static_cast<int64_t>(i);
    messages[i].payload = events[i].json;
  }
  constexpr size_t kBatch = 997;
  for (size_t i = 0; i < messages.size(); i += kBatch) {
    std::vector<const bus::Message*> batch;
    for (size_t j = i; j < std::min(messages.size(), i + kBatch); ++j)
      batch.push_back(&messages[j]);
    auto r = (*p)->ProcessBatch(worker->get(), batch);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    total->accepted += r->accepted;
    total->rejected += r->rejected;
    total->late += r->late;
    ASSERT_TRUE((*p)->EmitReady(false).ok());
  }
  ASSERT_TRUE((*p)->EmitReady(true).ok());
}

constexpr const char* kBandsSql =
    "CASE WHEN age IS NULL THEN 'unknown' WHEN age < 18 THEN '0-17' WHEN age < 25 THEN '18-24' "
    "WHEN age < 35 THEN '25-34' WHEN age < 45 THEN '35-44' WHEN age < 55 THEN '45-54' "
    "WHEN age < 65 THEN '55-64' ELSE '65+' END";

// The oracle: `events_sql` yields (person, ts, lat, lon, age, gender).
std::string OracleSql(const std::string& events_sql, const std::filesystem::path& poi_file) {
  std::ostringstream s;
  s.precision(17);
  s << "WITH ev AS (" << events_sql << "), "
    << "pois AS (SELECT id, CAST(lat AS DOUBLE) lat, CAST(lon AS DOUBLE) lon, CAST(radius_m AS "
       "DOUBLE) r "
    << "FROM read_csv('" << poi_file.string() << "', header=true, all_varchar=true)), "
    << "hits AS (SELECT ev.*, pois.id AS poi_id FROM ev JOIN pois ON 2 * 6371008.8"
    << " * asin(least(1, sqrt(pow(sin(radians(pois.lat - ev.lat) / 2), 2) + cos(radians(ev.lat)) * "
       "cos(radians(pois.lat)) * pow(sin(radians(pois.lon - ev.lon) / 2), 2)))) <= pois.r) "
    << "SELECT strftime(time_bucket(INTERVAL 1 minute, ts), '%Y-%m-%d %H:%M:%S'), poi_id, "
    << kBandsSql
    << " AS band, gender, count(DISTINCT person), count(*) FROM hits GROUP BY ALL ORDER BY ALL";
  return s.str();
}

std::vector<std::string> PipelineRows(Sql& sql, const std::filesystem::path& lake_dir) {
  return sql.Rows(
      "SELECT strftime(window_start, '%Y-%m-%d %H:%M:%S'), poi_id, age_band, gender, persons, "
      "events "
      "FROM read_parquet('" +
      (lake_dir / "curated/poi_presence/**/*.parquet").string() + "') ORDER BY ALL");
}

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> out(1);
  bool q = false;
  for (char c : line) {
    if (c == '"')
      q = !q;
    else if (c == ',' && !q)
      out.emplace_back();
    else if (c != '\r')
      out.back().push_back(c);
  }
  return out;
}

void CitibikeOracle(const std::string& file) {
  INLET_REQUIRE_SHARED(shared);
  const std::filesystem::path csv = shared / "data/citibike" / file;
  TempDir dir;
  std::ifstream in(csv);
  ASSERT_TRUE(in) << csv;
  std::string line;
  std::getline(in, line);
  std::vector<Event> events;
  std::map<std::string, std::pair<std::string, std::string>> stations;
  size_t trips = 0;
  while (std::getline(in, line)) {
    auto f = SplitCsv(line);
    ASSERT_EQ(f.size(), 15u) << line;
    const std::string person = f[11] + "|" + f[1];
    std::string extra;
    if (f[13] != "NULL" && !f[13].empty()) extra += ",\"birth_date\":\"" + f[13] + "-01-01\"";
    extra += ",\"gender\":\"" + f[14] + "\"";
    for (int end = 0; end < 2; ++end) {
      const std::string& ts = f[1 + end];
      const std::string& lat = f[5 + 4 * end];
      const std::string& lon = f[6 + 4 * end];
      stations.emplace(f[3 + 4 * end], std::make_pair(lat, lon));
      events.push_back({ts, "{\"event_id\":\"" + std::to_string(trips) + "-" + std::to_string(end) +
                                "\",\"user_id\":\"" + person + "\",\"ts\":\"" + ts.substr(0, 10) +
                                "T" + ts.substr(11) + "Z\",\"lat\":" + lat + ",\"lon\":" + lon +
                                extra + "}"});
    }
    ++trips;
  }
  ASSERT_GT(trips, 10'000u);
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.ts < b.ts; });
  // POIs: every station, with radii that make neighbours overlap.
  std::string pois = "id,name,lat,lon,radius_m,category\n";
  int k = 0;
  for (const auto& [id, ll] : stations) {
    pois += "st" + id + ",station " + id + "," + ll.first + "," + ll.second + "," +
            std::to_string(150 + 100 * (k++ % 4)) + ",station\n";
  }
  WriteFile(dir.path() / "pois.csv", pois);
  WriteFile(dir.path() / "key", "0123456789abcdef-test-key\n");
  BatchResult total;
  RunPipeline(Config(dir.path() / "pois.csv", dir.path() / "key"), events, dir.path() / "lake",
              &total);
  EXPECT_EQ(total.accepted, events.size());
  EXPECT_EQ(total.rejected, 0u);

  Sql sql;
  const std::string names =
      "names=['dur','starttime','stoptime','ssid','ssname','slat','slon','esid','esname','elat','"
      "elon','bikeid',"
      "'usertype','birth','gender']";
  const std::string src =
      "read_csv('" + csv.string() + "', header=true, all_varchar=true, " + names + ")";
  const std::string gender =
      "CASE gender WHEN '1' THEN 'male' WHEN '2' THEN 'female' ELSE 'unknown' END";
  const std::string events_sql =
      "SELECT bikeid || '|' || starttime AS person, CAST(starttime AS TIMESTAMP) ts, CAST(slat AS "
      "DOUBLE) lat, "
      "CAST(slon AS DOUBLE) lon, year(CAST(starttime AS TIMESTAMP)) - TRY_CAST(birth AS INTEGER) "
      "age, " +
      gender + " AS gender FROM " + src +
      " UNION ALL SELECT bikeid || '|' || starttime, CAST(stoptime AS TIMESTAMP), CAST(elat AS "
      "DOUBLE), "
      "CAST(elon AS DOUBLE), year(CAST(stoptime AS TIMESTAMP)) - TRY_CAST(birth AS INTEGER), " +
      gender + " FROM " + src;
  auto expected = sql.Rows(OracleSql(events_sql, dir.path() / "pois.csv"));
  auto actual = PipelineRows(sql, dir.path() / "lake");
  ASSERT_GT(expected.size(), 1000u);
  EXPECT_EQ(actual.size(), expected.size());
  std::vector<std::string> missing, extra;
  std::set_difference(expected.begin(), expected.end(), actual.begin(), actual.end(),
                      std::back_inserter(missing));
  std::set_difference(actual.begin(), actual.end(), expected.begin(), expected.end(),
                      std::back_inserter(extra));
  EXPECT_TRUE(missing.empty()) << missing.size() << " rows missing, first: " << missing.front();
  EXPECT_TRUE(extra.empty()) << extra.size() << " rows extra, first: " << extra.front();

  // No unmasked personal field reaches a curated table.
  auto leaked = sql.Rows("SELECT count(*) FROM read_parquet('" +
                         (dir.path() / "lake/curated/**/*.parquet").string() +
                         "', union_by_name=true) WHERE user_id LIKE '%|%'");
  ASSERT_EQ(leaked.size(), 1u);
  EXPECT_EQ(leaked[0], "0");
  auto cols = sql.Rows(
      "SELECT count(*), count(DISTINCT user_id), min(length(user_id)), min(_key_id), "
      "bool_and(event_id NOT LIKE '%-%') FROM read_parquet('" +
      (dir.path() / "lake/curated/events/**/*.parquet").string() + "')");
  ASSERT_EQ(cols.size(), 1u);
  EXPECT_EQ(cols[0].substr(0, cols[0].find('|')), std::to_string(events.size()));
  EXPECT_NE(cols[0].find("|32|test-key|true"), std::string::npos) << cols[0];
  auto ages = sql.Rows("SELECT DISTINCT typeof(age) FROM read_parquet('" +
                       (dir.path() / "lake/curated/events/**/*.parquet").string() + "')");
  EXPECT_EQ(ages, std::vector<std::string>{"VARCHAR"});  // bands, not ages
}

TEST(PresenceOracleTest, CitibikeJanuary2018) { CitibikeOracle("JC-201801-citibike-tripdata.csv"); }
TEST(PresenceOracleTest, CitibikeFebruary2017TitleCaseHeader) {
  CitibikeOracle("JC-201702-citibike-tripdata.titlecase-header.csv");
}

TEST(PresenceOracleTest, GeneratedPeopleAroundOverlappingPois) {
  TempDir dir;
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> jitter(-0.01, 0.01);
  std::string pois = "id,name,lat,lon,radius_m,category\n";
  std::vector<std::pair<double, double>> centres;
  for (int i = 0; i < 40; ++i) {
    double lat = 48.85 + jitter(rng), lon = 2.35 + jitter(rng);
    centres.push_back({lat, lon});
    char buf[200];
    snprintf(buf, sizeof buf, "p%d,poi %d,%.7f,%.7f,%d,test\n", i, i, lat, lon,
             100 + (i % 5) * 100);
    pois += buf;
  }
  WriteFile(dir.path() / "pois.csv", pois);
  WriteFile(dir.path() / "key", "another-test-key-0123456789");
  const char* genders[] = {"F", "male", "W", "1", "x", "2", "Man", ""};
  const char* kGenderLabels[] = {"female",  "male",   "female", "male",
                                 "unknown", "female", "male",   "unknown"};
  std::vector<Event> events;
  std::string oracle_rows;
  std::uniform_int_distribution<int> person(0, 299), gi(0, 7), poi(0, 39), year(1940, 2015);
  std::uniform_real_distribution<double> near(-0.004, 0.004);
  std::vector<int> birth(300);
  for (auto& b : birth) b = year(rng);
  for (int i = 0; i < 20'000; ++i) {
    const int p = person(rng);
    const auto& c = centres[poi(rng)];
    const double lat = c.first + near(rng), lon = c.second + near(rng);
    const int64_t t = 1'717'200'000 + i * 3 / 2;  // 2024-06-01, 30 000 s
    schema::CivilTime ct = schema::CivilFromMicros(t * 1'000'000);
    char ts[40], json[400], row[200];
    snprintf(ts, sizeof ts, "%04d-%02d-%02d %02d:%02d:%02d", static_cast<int>(ct.year), ct.month,
             ct.day, ct.hour, ct.minute, ct.second);
    const char* g = genders[p % 8];
    snprintf(
        json, sizeof json,
        R"({"event_id":"e%d","user_id":"person-%d","ts":%lld,"lat":%.9f,"lon":%.9f,"birth_date":"%d-01-01","gender":"%s"})",
        i, p, static_cast<long long>(t), lat, lon, birth[p], g);
    events.push_back({ts, json});
    const char* gl = kGenderLabels[p % 8];
    snprintf(row, sizeof row, "person-%d,%s,%.9f,%.9f,%d,%s\n", p, ts, lat, lon,
             static_cast<int>(ct.year) - birth[p], gl);
    oracle_rows += row;
  }
  (void)gi;
  WriteFile(dir.path() / "events.csv", "person,ts,lat,lon,age,gender\n" + oracle_rows);
  BatchResult total;
  RunPipeline(Config(dir.path() / "pois.csv", dir.path() / "key"), events, dir.path() / "lake",
              &total);
  EXPECT_EQ(total.accepted, events.size());
  Sql sql;
  auto expected = sql.Rows(
      OracleSql("SELECT person, CAST(ts AS TIMESTAMP) ts, CAST(lat AS DOUBLE) lat, CAST(lon AS "
                "DOUBLE) lon, CAST(age AS INTEGER) "
                "age, gender FROM read_csv('" +
                    (dir.path() / "events.csv").string() + "', header=true, all_varchar=true)",
                dir.path() / "pois.csv"));
  auto actual = PipelineRows(sql, dir.path() / "lake");
  ASSERT_GT(expected.size(), 1000u);
  EXPECT_EQ(actual, expected);
}

}  // namespace
}  // namespace inlet::process
