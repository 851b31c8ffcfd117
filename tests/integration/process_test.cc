// The processor inside the real inlet binary: events posted over HTTP are
// validated, masked and aggregated; curated/poi_presence, curated/events and
// errors/<category>/ appear in the lake. Passes once ProcessingService is
// wired into `inlet run` (src/cli/pipeline.cc).
#include <gtest/gtest.h>

#include <thread>

#include "support/inlet_process.h"

namespace inlet::testing {
namespace {

bool HasFileUnder(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return false;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".parquet") return true;
  }
  return false;
}

TEST(ProcessIntegrationTest, PostedEventsReachCuratedTablesAndErrors) {
  TempDir dir;
  WriteFile(dir.path() / "pois.csv",
            "id,name,lat,lon,radius_m,category\nsq,Square,40.7580,-73.9855,200,plaza\n");
  WriteFile(dir.path() / "pseudonym.key", "integration-test-key-0123456789\n");
  const std::string body = R"(tables:
  raw.events:
    columns:
      - {name: user_id, type: string, required: true}
      - {name: ts, type: timestamp, required: true}
      - {name: lat, type: double, required: true, min: -90, max: 90}
      - {name: lon, type: double, required: true, min: -180, max: 180}
      - {name: age, type: int, min: 0, max: 120}
      - {name: gender, type: string}
topics:
  events: {table: raw.events}
  errors: {}
subscriptions:
  processing: {topic: events}
processors:
  presence:
    subscription: processing
    table: raw.events
    errors: {topic: errors, actions: {out_of_range: both}}
    mapping:
      user_id: $.user_id
      ts: $.ts
      lat: $.lat
      lon: $.lon
      age: {path: $.age, derive: age}
      gender: {path: $.gender, derive: gender}
    masking:
      key_file: )" + (dir.path() / "pseudonym.key").string() +
                           R"(
      rules:
        - {column: user_id, op: pseudonym}
    aggregate:
      poi_file: )" + (dir.path() / "pois.csv").string() +
                           R"(
      window: 1m
      allowed_lateness: 0s
      idle_close: 1s
    workers: {min: 1, max: 2, target_backlog_per_worker: 1000}
)";
  const int port = FreePort();
  InletProcess inlet(dir.path(), TestConfig(port, dir.path() / "data", body), port);
  ASSERT_TRUE(inlet.WaitReady()) << inlet.Log();
  std::string events;
  for (int i = 0; i < 100; ++i) {
    events += R"({"user_id":"alice-)" + std::to_string(i % 10) + R"(","ts":"2024-06-01T12:00:)" +
              (i < 10 ? "0" : "") + std::to_string(i % 60) +
              R"(Z","lat":40.7581,"lon":-73.9856,"age":30,"gender":"F"})" + "\n";
  }
  events += R"({"user_id":"bob","ts":"2024-06-01T12:00:00Z","lat":123,"lon":0})"
            "\n";
  auto r =
      inlet.Post("/v1/topics/events/events", events, {{"Content-Type", "application/x-ndjson"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->status, 200) << r->body;
  const auto lake = dir.path() / "data" / "lake";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline &&
         !(HasFileUnder(lake / "curated/poi_presence") &&
           HasFileUnder(lake / "errors/out_of_range"))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(HasFileUnder(lake / "curated/poi_presence")) << inlet.Log();
  EXPECT_TRUE(HasFileUnder(lake / "curated/events")) << inlet.Log();
  EXPECT_TRUE(HasFileUnder(lake / "errors/out_of_range")) << inlet.Log();
  auto metrics = inlet.Get("/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("inlet_process_workers"), std::string::npos);
}

}  // namespace
}  // namespace inlet::testing
