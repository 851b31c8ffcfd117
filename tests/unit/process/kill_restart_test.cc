// A processor in a child process is killed with SIGKILL 20 times while it
// works through a backlog on a real EmbeddedBus and local lake; a clean run
// finishes it. DuckDB then checks the lake: every event exactly once in
// curated/events (or errors/late_event), one row per window, and window
// counts equal to the curated events of the window.
#include <duckdb.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

#include "bus/embedded_bus.h"
#include "process/event_processor.h"
#include "process/processing_service.h"
#include "storage/local_object_store.h"
#include "support/test_support.h"

namespace inlet::process {
namespace {

using inlet::testing::TempDir;
using inlet::testing::WriteFile;

int64_t Query(duckdb_connection con, const std::string& sql) {
  duckdb_result res;
  if (duckdb_query(con, sql.c_str(), &res) != DuckDBSuccess) {
    ADD_FAILURE() << sql << ": " << duckdb_result_error(&res);
    duckdb_destroy_result(&res);
    return -1;
  }
  int64_t v = duckdb_value_int64(&res, 0, 0);
  duckdb_destroy_result(&res);
  return v;
}

// raw.events of both tests: ids, person, time, location, age and gender.
schema::TableSchema EventsTable() {
  schema::TableSchema t;
  t.database = "raw", t.name = "events";
  t.columns.push_back({.name = "event_id", .type = *schema::ParseType("string"), .required = true});
  t.columns.push_back({.name = "user_id", .type = *schema::ParseType("string"), .required = true});
  t.columns.push_back({.name = "ts", .type = *schema::ParseType("timestamp"), .required = true});
  t.columns.push_back({.name = "lat", .type = *schema::ParseType("double"), .required = true});
  t.columns.push_back({.name = "lon", .type = *schema::ParseType("double"), .required = true});
  t.columns.push_back({.name = "age", .type = *schema::ParseType("int")});
  t.columns.push_back({.name = "gender", .type = *schema::ParseType("string")});
  return t;
}

// A presence processor over EventsTable with 10-second windows; its POI file
// and key are `dir`/pois.csv and `dir`/key.
ProcessorConfig PresenceConfig(const std::filesystem::path& dir) {
  ProcessorConfig pc;
  pc.name = "presence";
  pc.subscription = "processing";
  pc.table = "raw.events";
  pc.mapping = {{"event_id", "$.event_id"},
                {"user_id", "$.user_id"},
                {"ts", "$.ts"},
                {"lat", "$.lat"},
                {"lon", "$.lon"},
                {"age", "$.age", Derive::kAge},
                {"gender", "$.gender", Derive::kGender}};
  pc.masking.key_file = (dir / "key").string();
  MaskRule r;
  r.column = "user_id", r.op = MaskOp::kPseudonym;
  pc.masking.rules = {r};
  pc.aggregate.enabled = true;
  pc.aggregate.poi_file = (dir / "pois.csv").string();
  pc.aggregate.window = std::chrono::seconds(10);
  pc.aggregate.idle_close = std::chrono::milliseconds(0);
  return pc;
}

TEST(KillRestartTest, OutputsAreExactlyOnceAfter20Kills) {
  TempDir dir;
  WriteFile(dir.path() / "pois.csv",
            "id,name,lat,lon,radius_m,category\np1,One,40.0,-74.0,500,x\n");
  WriteFile(dir.path() / "key", "kill-restart-test-key-0123456789");
  bus::EmbeddedBusConfig bc;
  bc.log_dir = dir.path() / "log";
  bc.topics = {{.name = "events"}};
  bc.subscriptions = {{.name = "processing", .topic = "events"}};
  const schema::TableSchema t = EventsTable();
  std::map<std::string, schema::TableSchema> tables = {{"raw.events", t}};
  ProcessorConfig pc = PresenceConfig(dir.path());
  pc.aggregate.allowed_lateness = std::chrono::seconds(5);
  pc.autoscale.min_workers = 2;
  pc.autoscale.max_workers = 2;
  pc.fetch_max_messages = 200;
  pc.fetch_wait = std::chrono::milliseconds(20);
  ProcessConfig config{{pc}};

  // 60 000 events over 600 s of event time (60 windows), 40 users, in the log first.
  constexpr int kEvents = 60'000;
  {
    auto bus = bus::EmbeddedBus::Open(bc);
    ASSERT_TRUE(bus.ok());
    std::vector<bus::OutgoingEvent> events;
    for (int i = 0; i < kEvents; ++i) {
      events.push_back(
          {.payload = "{\"event_id\":\"e" + std::to_string(i) + "\",\"user_id\":\"u" +
                      std::to_string(i % 40) +
                      "\",\"ts\":" + std::to_string(1'717'200'000 + i / 100) +
                      ",\"lat\":40.0,\"lon\":-74.0,\"age\":" + std::to_string(20 + i % 50) + "}"});
    }
    ASSERT_TRUE((*bus)->FindTopic("events")->Publish(std::move(events)).ok());
    (*bus)->Close();
  }
  auto run = [&](bool clean) {
    auto bus = bus::EmbeddedBus::Open(bc);
    if (!bus.ok()) _exit(3);
    auto lake = storage::LocalObjectStore::Open(dir.path() / "lake");
    auto service = ProcessingService::Create(config, tables, bus->get(), lake->get(), nullptr);
    if (!service.ok() || !(*service)->Start().ok()) _exit(4);
    if (!clean) {
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while ((*bus)->FindSubscription("processing")->Stats().backlog > 0 &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ((*bus)->FindSubscription("processing")->Stats().backlog, 0u);
    (*service)->Stop();
    EXPECT_TRUE((*service)->processor("presence")->EmitReady(true).ok());
    (*bus)->Close();
  };
  std::mt19937 rng(99);
  for (int round = 0; round < 20; ++round) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) run(false);
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 400));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "round " << round << " exited with " << status;
  }
  run(true);

  duckdb_database db;
  duckdb_connection con;
  ASSERT_EQ(duckdb_open(nullptr, &db), DuckDBSuccess);
  ASSERT_EQ(duckdb_connect(db, &con), DuckDBSuccess);
  const std::string lake = (dir.path() / "lake").string();
  const std::string events = "read_parquet('" + lake + "/curated/events/**/*.parquet')";
  const std::string presence = "read_parquet('" + lake + "/curated/poi_presence/**/*.parquet')";
  const bool has_late = std::filesystem::exists(dir.path() / "lake" / "errors" / "late_event");
  const std::string late =
      has_late ? "(SELECT json_extract_string(payload, '$.event_id') event_id FROM read_parquet('" +
                     lake + "/errors/late_event/**/*.parquet'))"
               : "(SELECT 'x' event_id WHERE false)";
  EXPECT_EQ(Query(con, "SELECT count(*) - count(DISTINCT event_id) FROM " + events), 0)
      << "duplicate rows";
  EXPECT_EQ(Query(con, "SELECT count(*) FROM (SELECT event_id FROM " + events +
                           " UNION ALL SELECT event_id FROM " + late + ")"),
            kEvents);
  EXPECT_EQ(Query(con, "SELECT count(DISTINCT event_id) FROM (SELECT event_id FROM " + events +
                           " UNION ALL SELECT event_id FROM " + late + ")"),
            kEvents);
  EXPECT_EQ(Query(con, "SELECT count(*) FROM (SELECT window_start, poi_id, age_band, gender FROM " +
                           presence + " GROUP BY ALL HAVING count(*) > 1)"),
            0)
      << "duplicate window rows";
  EXPECT_EQ(Query(con, "WITH p AS (SELECT window_start w, sum(events) e FROM " + presence +
                           " GROUP BY 1), c AS (SELECT time_bucket(INTERVAL 10 seconds, ts) w, "
                           "count(*) e FROM " +
                           events +
                           " GROUP BY 1) SELECT count(*) FROM p FULL OUTER JOIN c USING (w) "
                           "WHERE p.e IS DISTINCT FROM c.e"),
            0)
      << "window counts differ from curated events";
  EXPECT_EQ(Query(con, "SELECT count(DISTINCT window_start) FROM " + presence), 60);
  std::printf("late events: %lld\n",
              static_cast<long long>(Query(con, "SELECT count(*) FROM " + late)));
  duckdb_disconnect(&con);
  duckdb_close(&db);
}

// Workers run their stages in parallel and commit one at a time. Four workers
// are offered every batch at once (as after visibility timeouts) while a fifth
// thread emits windows: each event must be committed by exactly one of them,
// as a curated row or a late event, and counted once in the windows.
TEST(ParallelWorkersTest, OverlappingBatchesAreCommittedOnceWhileWindowsAreEmitted) {
  TempDir dir;
  WriteFile(dir.path() / "pois.csv",
            "id,name,lat,lon,radius_m,category\np1,One,40.0,-74.0,500,x\n");
  WriteFile(dir.path() / "key", "parallel-workers-test-key-012345");
  const schema::TableSchema t = EventsTable();
  ProcessorConfig pc = PresenceConfig(dir.path());
  pc.aggregate.allowed_lateness = std::chrono::seconds(0);
  auto lake = storage::LocalObjectStore::Open(dir.path() / "lake");
  ASSERT_TRUE(lake.ok());
  auto p = EventProcessor::Create(pc, t, lake->get(), nullptr, nullptr);
  ASSERT_TRUE(p.ok()) << p.status().ToString();

  constexpr int kEvents = 4000, kBatch = 100, kWorkers = 4;
  std::vector<bus::Message> messages(kEvents);
  for (int i = 0; i < kEvents; ++i) {  // 20 events per second of event time: 20 windows
    messages[i].seq = static_cast<uint64_t>(i) + 1;
    messages[i].arrival_us = 1'717'200'000'000'000;
    messages[i].payload =
        "{\"event_id\":\"e" + std::to_string(i) + "\",\"user_id\":\"u" + std::to_string(i % 7) +
        "\",\"ts\":" + std::to_string(1'717'200'000 + i / 20) + ",\"lat\":40.0,\"lon\":-74.0}";
  }
  std::atomic<uint64_t> accepted{0}, late{0}, duplicates{0}, failures{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int k = 0; k < kWorkers; ++k) {
    threads.emplace_back([&, k] {
      auto w = (*p)->NewWorker();
      if (!w.ok()) return failures.fetch_add(1), void();
      std::mt19937 rng(k);
      for (int from = 0; from < kEvents; from += kBatch) {
        // Batches overlap their neighbours by a random share, as redeliveries do.
        const int lo = std::max(0, from - static_cast<int>(rng() % kBatch));
        std::vector<const bus::Message*> batch;
        for (int i = lo; i < std::min(kEvents, from + kBatch); ++i) batch.push_back(&messages[i]);
        auto res = (*p)->ProcessBatch(w->get(), batch);
        if (!res.ok()) {
          ADD_FAILURE() << res.status().ToString();
          failures.fetch_add(1);
          continue;
        }
        accepted += res->accepted, late += res->late, duplicates += res->duplicates;
      }
    });
  }
  std::thread emitter([&] {
    while (!done.load()) {
      auto e = (*p)->EmitReady(false);
      if (!e.ok()) ADD_FAILURE() << e.status().ToString();
    }
  });
  for (auto& th : threads) th.join();
  done = true;
  emitter.join();
  ASSERT_TRUE((*p)->EmitReady(true).ok());
  ASSERT_EQ(failures.load(), 0u);
  EXPECT_EQ(accepted.load() + late.load(), static_cast<uint64_t>(kEvents));

  duckdb_database db;
  duckdb_connection con;
  ASSERT_EQ(duckdb_open(nullptr, &db), DuckDBSuccess);
  ASSERT_EQ(duckdb_connect(db, &con), DuckDBSuccess);
  const std::string root = (dir.path() / "lake").string();
  const std::string events = "read_parquet('" + root + "/curated/events/**/*.parquet')";
  const std::string presence = "read_parquet('" + root + "/curated/poi_presence/**/*.parquet')";
  EXPECT_EQ(Query(con, "SELECT count(*) FROM " + events), static_cast<int64_t>(accepted.load()));
  EXPECT_EQ(Query(con, "SELECT count(DISTINCT event_id) FROM " + events),
            static_cast<int64_t>(accepted.load()));
  if (late.load() > 0) {
    const std::string late_ids =
        "(SELECT json_extract_string(payload, '$.event_id') id FROM "
        "read_parquet('" +
        root + "/errors/late_event/**/*.parquet'))";
    EXPECT_EQ(Query(con, "SELECT count(*) FROM " + late_ids), static_cast<int64_t>(late.load()));
    EXPECT_EQ(Query(con, "SELECT count(*) FROM " + late_ids +
                             " WHERE id IN (SELECT event_id FROM " + events + ")"),
              0);
  }
  // Every window's counts equal its curated events, and each window is written once.
  EXPECT_EQ(Query(con, "SELECT sum(events) FROM " + presence),
            static_cast<int64_t>(accepted.load()));
  EXPECT_EQ(Query(con, "SELECT count(*) - count(DISTINCT window_start) FROM " + presence), 0);
  EXPECT_EQ(Query(con, "WITH p AS (SELECT window_start w, sum(events) e FROM " + presence +
                           " GROUP BY 1), c AS (SELECT time_bucket(INTERVAL 10 seconds, ts) w, "
                           "count(*) e FROM " +
                           events +
                           " GROUP BY 1) SELECT count(*) FROM p FULL JOIN c USING (w) "
                           "WHERE p.e IS DISTINCT FROM c.e"),
            0);
  duckdb_disconnect(&con);
  duckdb_close(&db);
}

}  // namespace
}  // namespace inlet::process
