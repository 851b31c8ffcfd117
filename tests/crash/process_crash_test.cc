// Crash test of the processor's exactly-once outputs: events with unique ids,
// users from a small set and positions at one POI are ingested while inlet is
// killed with SIGKILL during processing, 20 times; a last clean run drains the
// subscription and closes every window. Afterwards, over the lake: every
// acknowledged event is exactly once in curated/events or errors/late_event,
// and curated/poi_presence has one row per window whose counts equal the
// curated events of that window (events and distinct persons).
#include <gtest/gtest.h>

#include "loadgen/load_generator.h"
#include "support/duckdb_query.h"
#include "support/pipeline_checks.h"

namespace inlet::testing {
namespace {

const std::string kConfig = std::string(kLocationEventsTable) + R"(topics:
  events: {segment_bytes: 8MiB}
subscriptions:
  processing: {topic: events, visibility_timeout: 30s}
)" + kPresenceProcessorHead +
                            R"(    masking:
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

TEST(ProcessCrashTest, WindowsAndCuratedRowsAreExactlyOnceAfter20Kills) {
  TempDir dir;
  WriteFile(dir.path() / "pois.csv",
            "id,name,lat,lon,radius_m,category\nts,Times Square,40.7580,-73.9855,200,landmark\n"
            "far,Far Away,41.5,-72.0,100,other\n");
  const int port = FreePort();
  const std::string config = TestConfig(port, dir.path() / "data", kConfig);
  IdLedger ledger;
  auto load = [&](int round, std::atomic<bool>* stop) {
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
    o.stop = stop;
    ledger.Attach(&o);
    (void)loadgen::RunLoad(o);
  };
  // Kill during processing: windows of 2 s open and close across kills.
  const KillPlan plan{.rounds = 20,
                      .seed = 4242,
                      .min_up = std::chrono::milliseconds(400),
                      .spread = std::chrono::milliseconds(1600)};
  ASSERT_TRUE(KillRepeatedly(dir.path(), config, port, plan, load));
  ASSERT_GT(ledger.acked().size(), 10000u);

  // A last clean run processes the backlog and, after idle_close, every window.
  {
    InletProcess inlet(dir.path(), config, port);
    ASSERT_TRUE(inlet.WaitReady()) << inlet.Log();
    std::string last;
    ASSERT_TRUE(WaitForDrained(inlet, "processing", std::chrono::seconds(60), &last))
        << "processing did not catch up: " << last;
    ASSERT_TRUE(WaitForBody(inlet, "/metrics",
                            "inlet_process_open_windows{processor=\"presence\"} 0\n",
                            std::chrono::seconds(20), &last))
        << "windows still open";
  }

  // Every acknowledged event once in curated/events or (if late) in
  // errors/late_event, never in both.
  const std::filesystem::path lake = dir.path() / "data" / "lake";
  const IdCounts curated = CountIds(lake / "curated" / "events", "event_id");
  const IdCounts late =
      CountIds(lake / "errors" / "late_event", "json_extract_string(payload, '$.event_id')");
  IdCounts outputs = curated;
  AddCounts(&outputs, late);
  ExpectExactlyOnce(outputs, ledger.acked(), ledger.unknown(), "curated/events + late events");
  // No raw user id reaches curated/events.
  const std::string events = ParquetScan(lake / "curated" / "events");
  auto raw_users = DuckQuery("SELECT count(*) FROM " + events + " WHERE length(user_id) <> 32");
  EXPECT_EQ(raw_users[0][0], "0");

  // poi_presence: one row per (window, poi, band, gender); every curated event
  // is at the Times Square POI, so per window: events = curated rows and
  // persons = distinct pseudonyms.
  const std::string presence = ParquetScan(lake / "curated" / "poi_presence");
  ExpectUniqueKeys(presence, "window_start, poi_id, age_band, gender", "poi_presence");
  ExpectSameRows("SELECT window_start, sum(events), sum(persons) FROM " + presence +
                     " WHERE poi_id = 'ts' GROUP BY 1",
                 "SELECT time_bucket(INTERVAL 2 seconds, ts), count(*), count(DISTINCT user_id) "
                 "FROM " +
                     events + " GROUP BY 1",
                 "poi_presence windows against the curated events");
  auto totals = DuckQuery("SELECT count(*), sum(events) FROM " + presence);
  EXPECT_EQ(totals[0][1], std::to_string(curated.size()));
  auto far = DuckQuery("SELECT count(*) FROM " + presence + " WHERE poi_id <> 'ts'");
  EXPECT_EQ(far[0][0], "0");
  std::printf(
      "curated: %zu rows, late: %zu, acknowledged: %zu, cut by SIGKILL: %zu, window rows: %s\n",
      curated.size(), late.size(), ledger.acked().size(), ledger.unknown().size(),
      totals[0][0].c_str());
}

}  // namespace
}  // namespace inlet::testing
