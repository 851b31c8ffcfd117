// ProcessingService on a real EmbeddedBus and a local lake: workers consume,
// write outputs and ack; a burst grows the pool to its maximum, the backlog
// drains, idleness shrinks it back; rejected events are stored and notified.
#include "process/processing_service.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "bus/embedded_bus.h"
#include "process/event_processor.h"
#include "storage/local_object_store.h"
#include "support/test_support.h"

namespace inlet::process {
namespace {

using inlet::testing::TempDir;
using inlet::testing::WriteFile;

// An embedded bus without fsync under `dir`/log: topic "events" read by
// subscription "processing", and with `errors`, topic "errors" read by "error-watch".
bus::EmbeddedBusConfig BusConfig(const std::filesystem::path& dir, bool errors) {
  bus::EmbeddedBusConfig bc;
  bc.log_dir = dir / "log";
  bc.fsync = false;
  bc.topics = {{.name = "events"}};
  bc.subscriptions = {{.name = "processing", .topic = "events"}};
  if (errors) {
    bc.topics.push_back({.name = "errors"});
    bc.subscriptions.push_back({.name = "error-watch", .topic = "errors"});
  }
  return bc;
}

TEST(ProcessingServiceTest, BurstScalesOutDrainsAndIdleScalesIn) {
  TempDir dir;
  WriteFile(dir.path() / "pois.csv",
            "id,name,lat,lon,radius_m,category\np1,One,40.0,-74.0,500,x\n");
  WriteFile(dir.path() / "key", "service-test-key-0123456789");
  auto bus = bus::EmbeddedBus::Open(BusConfig(dir.path(), true));
  ASSERT_TRUE(bus.ok()) << bus.status().ToString();
  auto lake = storage::LocalObjectStore::Open(dir.path() / "lake");
  ASSERT_TRUE(lake.ok());

  schema::TableSchema t;
  t.database = "raw", t.name = "events";
  t.columns.push_back({.name = "user_id", .type = *schema::ParseType("string"), .required = true});
  t.columns.push_back({.name = "ts", .type = *schema::ParseType("timestamp"), .required = true});
  t.columns.push_back({.name = "lat",
                       .type = *schema::ParseType("double"),
                       .required = true,
                       .min = -90,
                       .max = 90});
  t.columns.push_back({.name = "lon", .type = *schema::ParseType("double"), .required = true});
  t.columns.push_back({.name = "age", .type = *schema::ParseType("int")});
  t.columns.push_back({.name = "gender", .type = *schema::ParseType("string")});
  std::map<std::string, schema::TableSchema> tables = {{"raw.events", t}};

  ProcessorConfig pc;
  pc.name = "presence";
  pc.subscription = "processing";
  pc.table = "raw.events";
  pc.errors_topic = "errors";
  pc.error_actions[ErrorCategory::kOutOfRange] = {true, true};
  pc.mapping = {{"user_id", "$.user_id"},
                {"ts", "$.ts"},
                {"lat", "$.lat"},
                {"lon", "$.lon"},
                {"age", "$.age", Derive::kAge},
                {"gender", "$.gender", Derive::kGender}};
  pc.masking.key_file = (dir.path() / "key").string();
  MaskRule r;
  r.column = "user_id", r.op = MaskOp::kPseudonym;
  pc.masking.rules = {r};
  pc.aggregate.enabled = true;
  pc.aggregate.poi_file = (dir.path() / "pois.csv").string();
  pc.autoscale = {.min_workers = 1,
                  .max_workers = 3,
                  .target_backlog_per_worker = 2000,
                  .scale_out_cooldown = std::chrono::milliseconds(0),
                  .scale_in_cooldown = std::chrono::milliseconds(500),
                  .evaluation_interval = std::chrono::milliseconds(100)};
  pc.fetch_max_messages = 50;  // small batches keep the burst visible
  pc.fetch_wait = std::chrono::milliseconds(50);
  ProcessConfig config{{pc}};
  MetricsRegistry metrics;

  // The burst is in the log before the service starts.
  constexpr int kEvents = 20'000;
  std::vector<bus::OutgoingEvent> events;
  for (int i = 0; i < kEvents; ++i) {
    events.push_back({.payload = "{\"user_id\":\"u" + std::to_string(i % 500) + "\",\"ts\":" +
                                 std::to_string(1'717'200'000 + i / 100) + ",\"lat\":" +
                                 (i == 7 ? std::string("95") : std::string("40.001")) +
                                 ",\"lon\":-74.0,\"age\":30,\"gender\":\"F\"}"});
  }
  ASSERT_TRUE((*bus)->FindTopic("events")->Publish(std::move(events)).ok());

  auto service = ProcessingService::Create(config, tables, bus->get(), lake->get(), &metrics);
  ASSERT_TRUE(service.ok()) << service.status().ToString();
  ASSERT_TRUE((*service)->Start().ok());
  uint32_t max_workers = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    max_workers = std::max(max_workers, (*service)->Stats()[0].workers);
    if ((*bus)->FindSubscription("processing")->Stats().backlog == 0 && max_workers == 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(max_workers, 3u);
  EXPECT_EQ((*bus)->FindSubscription("processing")->Stats().backlog, 0u);
  // Idle: back to the minimum.
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline && (*service)->Stats()[0].workers != 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ((*service)->Stats()[0].workers, 1u);
  EXPECT_GE((*service)->Stats()[0].scale_ins, 1u);
  const std::string text = metrics.Render();
  EXPECT_NE(text.find("inlet_process_workers{processor=\"presence\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("inlet_process_scaling_total{processor=\"presence\",direction=\"out\"}"),
            std::string::npos);
  EXPECT_NE(text.find("inlet_process_events_accepted_total{processor=\"presence\"} 19999"),
            std::string::npos);
  (*service)->Stop();

  // The out-of-range event: stored under errors/out_of_range/ and notified.
  auto errors = (*lake)->List("errors/out_of_range/year=");
  ASSERT_TRUE(errors.ok());
  EXPECT_EQ(errors->size(), 1u);
  auto note = (*bus)->FindSubscription("error-watch")->Fetch({.max_messages = 10});
  ASSERT_TRUE(note.ok());
  ASSERT_EQ(note->size(), 1u);
  EXPECT_NE((*note)[0].message.payload.find("\"category\":\"out_of_range\",\"path\":\"$.lat\""),
            std::string::npos)
      << (*note)[0].message.payload;
  EXPECT_NE((*note)[0].message.attributes.find("out_of_range"), std::string::npos);
  auto events_files = (*lake)->List("curated/events/");
  ASSERT_TRUE(events_files.ok());
  EXPECT_FALSE(events_files->empty());
  (*bus)->Close();
}

// A worker fills its batch for up to batch_linger after the batch's first
// message: events published in small pieces over 200 ms make one batch (one
// commit, one curated events file) with a linger of 5 s, several without one.
TEST(ProcessingServiceTest, BatchLingerFillsABatchFromSmallPublishes) {
  for (auto linger : {std::chrono::milliseconds(5000), std::chrono::milliseconds(0)}) {
    TempDir dir;
    WriteFile(dir.path() / "key", "linger-test-key-0123456789abcdef");
    auto bus = bus::EmbeddedBus::Open(BusConfig(dir.path(), false));
    ASSERT_TRUE(bus.ok()) << bus.status().ToString();
    auto lake = storage::LocalObjectStore::Open(dir.path() / "lake");
    ASSERT_TRUE(lake.ok());
    schema::TableSchema t;
    t.database = "raw", t.name = "events";
    t.columns.push_back({.name = "id", .type = *schema::ParseType("string"), .required = true});
    std::map<std::string, schema::TableSchema> tables = {{"raw.events", t}};
    ProcessorConfig pc;
    pc.name = "lingering";
    pc.subscription = "processing";
    pc.table = "raw.events";
    pc.mapping = {{"id", "$.id"}};
    pc.masking.key_file = (dir.path() / "key").string();
    pc.autoscale.min_workers = pc.autoscale.max_workers = 1;
    pc.fetch_max_messages = 100;
    pc.fetch_wait = std::chrono::milliseconds(20);
    pc.batch_linger = linger;
    MetricsRegistry metrics;
    auto service =
        ProcessingService::Create(ProcessConfig{{pc}}, tables, bus->get(), lake->get(), &metrics);
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    ASSERT_TRUE((*service)->Start().ok());
    for (int piece = 0; piece < 10; ++piece) {  // 100 events in 10 publishes, 20 ms apart
      std::vector<bus::OutgoingEvent> events;
      for (int i = 0; i < 10; ++i) {
        events.push_back({.payload = "{\"id\":\"e" + std::to_string(piece * 10 + i) + "\"}"});
      }
      ASSERT_TRUE((*bus)->FindTopic("events")->Publish(std::move(events)).ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      // Without a linger, wait until the piece is processed, so that a slow
      // machine (a sanitizer build under load) cannot see all pieces in one
      // fetch; with it, the batch stays in flight until it holds 100.
      const auto piece_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (linger.count() == 0 && std::chrono::steady_clock::now() < piece_deadline &&
             (*bus)->FindSubscription("processing")->Stats().backlog > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline &&
           (*bus)->FindSubscription("processing")->Stats().backlog > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    (*service)->Stop();
    auto files = (*lake)->List("curated/events/");
    ASSERT_TRUE(files.ok());
    if (linger.count() > 0) {
      EXPECT_EQ(files->size(), 1u) << "one batch of 100 events";
    } else {
      EXPECT_GT(files->size(), 1u) << "without a linger, a batch is what one fetch returns";
    }
    (*bus)->Close();
  }
}

}  // namespace
}  // namespace inlet::process
