// Crash test of the processor's exactly-once outputs: events with unique ids,
// users from a small set and positions at one POI are ingested while inlet is
// killed with SIGKILL during processing, 20 times; a last clean run drains the
// subscription and closes every window. Afterwards, over the lake: every
// acknowledged event is exactly once in curated/events or errors/late_event,
// and curated/poi_presence has one row per window whose counts equal the
// curated events of that window (events and distinct persons).
#include <gtest/gtest.h>

#include <csignal>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "loadgen/load_generator.h"
#include "support/duckdb_query.h"
#include "support/inlet_process.h"

namespace inlet::testing {
namespace {

const char* kConfig = R"(tables:
  raw.events:
    columns:
      - {name: event_id, type: string, required: true}
      - {name: user_id, type: string, required: true}
      - {name: ts, type: timestamp, required: true}
      - {name: lat, type: double, required: true}
      - {name: lon, type: double, required: true}
      - {name: age, type: int}
      - {name: gender, type: string}
      - {name: n, type: bigint}
topics:
  events: {segment_bytes: 8MiB}
subscriptions:
  processing: {topic: events, visibility_timeout: 30s}
processors:
  presence:
    subscription: processing
    table: raw.events
    mapping:
      event_id: $.event_id
      user_id: $.user_id
      ts: $.ts
      lat: $.lat
      lon: $.lon
      age: {path: $.age, derive: age}
      gender: {path: $.gender, derive: gender}
    masking:
      key_file: pseudonym.key
      create_key: true
      key_id: crash-1
      rules:
        - {column: user_id, op: pseudonym}
    aggregate:
      poi_file: pois.csv
      window: 2s
      allowed_lateness: 1s
      idle_close: 2s
    workers: {min: 2, max: 3, target_backlog_per_worker: 2000, scale_out_cooldown: 0s,
              scale_in_cooldown: 5s, fetch_max_messages: 500, fetch_wait: 50ms}
)";

bool WaitFor(InletProcess& inlet, const std::string& path, const std::string& needle, int seconds,
             std::string* last) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = inlet.Get(path);
    if (r.ok()) {
      *last = r->body;
      if (r->body.find(needle) != std::string::npos) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

TEST(ProcessCrashTest, WindowsAndCuratedRowsAreExactlyOnceAfter20Kills) {
  TempDir dir;
  WriteFile(dir.path() / "pois.csv",
            "id,name,lat,lon,radius_m,category\nts,Times Square,40.7580,-73.9855,200,landmark\n"
            "far,Far Away,41.5,-72.0,100,other\n");
  const int port = FreePort();
  const std::string config = TestConfig(port, dir.path() / "data", kConfig);
  std::mutex mu;
  std::set<std::string> acked, unknown;
  std::mt19937 rng(4242);
  for (int round = 0; round < 20; ++round) {
    InletProcess inlet(dir.path(), config, port);
    ASSERT_TRUE(inlet.WaitReady()) << "round " << round << ":\n" << inlet.Log();
    std::atomic<bool> stop{false};
    loadgen::LoadOptions o;
    o.port = static_cast<uint16_t>(port);
    o.api_key = kTestKey;
    o.batch = 100;
    o.connections = 2;
    o.rate = 4000;
    o.duration = std::chrono::seconds(30);
    o.payload_template =
        R"({"event_id":"{{id}}","user_id":"{{user}}","ts":"{{ts}}","lat":40.7581,"lon":-73.9856,"n":{{seq}}})";
    o.id_prefix = "r" + std::to_string(round);
    o.stop = &stop;
    auto record = [&](std::set<std::string>* into, uint32_t c, uint64_t first, uint64_t last) {
      std::lock_guard lock(mu);
      for (uint64_t n = first; n <= last; ++n)
        into->insert(o.id_prefix + "-" + std::to_string(c) + "-" + std::to_string(n));
    };
    o.on_ack = [&](uint32_t c, uint64_t f, uint64_t l) { record(&acked, c, f, l); };
    o.on_unknown = [&](uint32_t c, uint64_t f, uint64_t l) { record(&unknown, c, f, l); };
    std::thread producer([&] { (void)loadgen::RunLoad(o); });
    // Kill during processing: windows of 2 s open and close across kills.
    std::this_thread::sleep_for(std::chrono::milliseconds(400 + rng() % 1600));
    inlet.Kill(SIGKILL);
    inlet.Wait();
    stop = true;
    producer.join();
  }
  ASSERT_GT(acked.size(), 10000u);

  // A last clean run processes the backlog and, after idle_close, every window.
  {
    InletProcess inlet(dir.path(), config, port);
    ASSERT_TRUE(inlet.WaitReady()) << inlet.Log();
    std::string last;
    ASSERT_TRUE(WaitFor(inlet, "/v1/subscriptions/processing", "\"backlog\":0,", 60, &last))
        << "processing did not catch up: " << last;
    ASSERT_TRUE(WaitFor(inlet, "/metrics", "inlet_process_open_windows{processor=\"presence\"} 0\n",
                        20, &last))
        << "windows still open";
  }

  const std::string lake = (dir.path() / "data" / "lake").string();
  const std::string events = "read_parquet('" + lake + "/curated/events/**/*.parquet')";
  const std::string late = "read_parquet('" + lake + "/errors/late_event/**/*.parquet')";
  const std::string presence = "read_parquet('" + lake + "/curated/poi_presence/**/*.parquet')";
  auto counts = DuckQuery("SELECT count(*), count(DISTINCT event_id) FROM " + events);
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0][0], counts[0][1]) << "duplicate curated rows";
  // Late events (if any) are stored once and are not curated.
  std::set<std::string> late_ids;
  const bool has_late =
      !std::filesystem::is_empty(dir.path() / "data" / "lake") &&
      std::filesystem::exists(dir.path() / "data" / "lake" / "errors" / "late_event");
  if (has_late) {
    auto rows = DuckQuery("SELECT json_extract_string(payload, '$.event_id') FROM " + late);
    for (auto& r : rows) EXPECT_TRUE(late_ids.insert(r[0]).second) << "duplicate late row " << r[0];
  }
  std::set<std::string> curated;
  for (auto& r : DuckQuery("SELECT event_id FROM " + events)) curated.insert(r[0]);
  size_t missing = 0, foreign = 0, both = 0;
  for (const auto& id : acked) missing += !curated.count(id) && !late_ids.count(id);
  for (const auto& id : curated) {
    foreign += !acked.count(id) && !unknown.count(id);
    both += late_ids.count(id);
  }
  EXPECT_EQ(missing, 0u) << "acknowledged events neither curated nor late";
  EXPECT_EQ(foreign, 0u) << "curated events that were never sent";
  EXPECT_EQ(both, 0u) << "events both curated and late";
  // No raw user id reaches curated/events.
  auto raw_users = DuckQuery("SELECT count(*) FROM " + events + " WHERE length(user_id) <> 32");
  EXPECT_EQ(raw_users[0][0], "0");

  // poi_presence: one row per (window, poi, band, gender); every curated event
  // is at the Times Square POI, so per window: events = curated rows and
  // persons = distinct pseudonyms.
  auto dup = DuckQuery(
      "SELECT count(*) FROM (SELECT window_start, poi_id, age_band, gender, count(*) c FROM " +
      presence + " GROUP BY ALL HAVING c > 1)");
  EXPECT_EQ(dup[0][0], "0") << "duplicate window rows";
  auto mismatch =
      DuckQuery("WITH p AS (SELECT window_start w, sum(events) e, sum(persons) n FROM " + presence +
                " WHERE poi_id = 'ts' GROUP BY 1), c AS (SELECT time_bucket(INTERVAL 2 seconds, "
                "ts) w, count(*) e, "
                "count(DISTINCT user_id) n FROM " +
                events +
                " GROUP BY 1) SELECT count(*) FROM p FULL OUTER JOIN c USING (w) WHERE p.e IS "
                "DISTINCT FROM c.e OR "
                "p.n IS DISTINCT FROM c.n");
  EXPECT_EQ(mismatch[0][0], "0") << "windows whose counts differ from the curated events";
  auto totals = DuckQuery("SELECT count(*), sum(events) FROM " + presence);
  EXPECT_EQ(totals[0][1], std::to_string(curated.size()));
  auto far = DuckQuery("SELECT count(*) FROM " + presence + " WHERE poi_id <> 'ts'");
  EXPECT_EQ(far[0][0], "0");
  std::printf(
      "curated: %zu rows, late: %zu, acknowledged: %zu, cut by SIGKILL: %zu, window rows: %s\n",
      curated.size(), late_ids.size(), acked.size(), unknown.size(), totals[0][0].c_str());
}

}  // namespace
}  // namespace inlet::testing
