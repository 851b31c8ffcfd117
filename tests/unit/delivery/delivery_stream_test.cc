#include "delivery/delivery_stream.h"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>

#include "duckdb_reader.h"
#include "fake_consumer.h"
#include "schema/time_util.h"
#include "storage/local_object_store.h"
#include "support/test_support.h"

namespace inlet::delivery {
namespace {

using testing::DuckDbReader;
using testing::FakeConsumer;

// 2024-03-05T10:00:00Z
constexpr int64_t kDay1 = 1709632800000000;
constexpr int64_t kDay = schema::kMicrosPerDay;
constexpr int64_t kSecond = schema::kMicrosPerSecond;

// Wraps the local store and fails chosen operations, to simulate crashes
// between the steps of a commit.
class FaultyStore : public storage::ObjectStore {
 public:
  explicit FaultyStore(storage::ObjectStore* base) : base_(base) {}
  bool fail_state_commit = false;  // fail writing a state without an intent
  int fail_put_file_after = -1;    // fail PutFile once this many succeeded (-1: never)
  int files_put = 0;

  Status PutBytes(std::string_view key, std::string_view data) override {
    if (fail_state_commit && key.starts_with("_state/") &&
        data.find("\"intent\":null") != std::string_view::npos) {
      return Status::IoError("injected: crash before the state commit");
    }
    return base_->PutBytes(key, data);
  }
  Status PutFile(std::string_view key, const std::filesystem::path& f) override {
    if (fail_put_file_after >= 0 && files_put >= fail_put_file_after) {
      std::filesystem::remove(f);
      return Status::IoError("injected: crash while writing files");
    }
    ++files_put;
    return base_->PutFile(key, f);
  }
  Result<std::string> Get(std::string_view key) override { return base_->Get(key); }
  Result<std::vector<storage::ObjectInfo>> List(std::string_view p) override {
    return base_->List(p);
  }
  Status Delete(std::string_view key) override { return base_->Delete(key); }
  Result<bool> Exists(std::string_view key) override { return base_->Exists(key); }
  std::optional<std::filesystem::path> LocalPath(std::string_view key) const override {
    return base_->LocalPath(key);
  }
  std::string Describe() const override { return "faulty:" + base_->Describe(); }

 private:
  storage::ObjectStore* base_;
};

class DeliveryStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::LocalObjectStore::Open(dir_.path() / "lake");
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    faulty_ = std::make_unique<FaultyStore>(store_.get());
  }

  DeliveryStreamConfig Config() {
    DeliveryStreamConfig c;
    c.name = "events-raw";
    c.subscription = "raw";
    c.table.database = "raw";
    c.table.name = "events";
    auto add = [&](const char* name, const char* type, bool required = false) {
      schema::Column col{name, *schema::ParseType(type)};
      col.required = required;
      c.table.columns.push_back(std::move(col));
    };
    add("id", "string", true);
    add("device", "struct<os:string,ver:int>");
    add("ts", "timestamp");
    add("value", "double");
    add("pad", "string");
    c.buffer_interval = std::chrono::seconds(300);
    c.buffer_size_bytes = 1 << 20;
    c.idle_flush = std::chrono::seconds(0);
    return c;
  }

  std::unique_ptr<DeliveryStream> Make(const DeliveryStreamConfig& c, bool faulty = false) {
    DeliveryStreamOptions o;
    o.clock_us = [this] { return now_; };
    o.fetch_wait = bus::Millis(0);
    auto s = DeliveryStream::Create(
        c, &consumer_, faulty ? static_cast<storage::ObjectStore*>(faulty_.get()) : store_.get(),
        o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  static std::string Event(int id, const std::string& os = "ios", const std::string& extra = "") {
    return R"({"id":"e)" + std::to_string(id) + R"(","device":{"os":")" + os +
           R"(","ver":17},"value":)" + std::to_string(id) + extra + "}";
  }

  // Polls until the consumer has nothing more to hand out.
  void Drain(DeliveryStream& s) {
    for (int i = 0; i < 1000; ++i) {
      size_t before = s.Metrics().events_received;
      ASSERT_TRUE(s.PollOnce().ok()) << s.Metrics().last_error;
      if (s.Metrics().events_received == before) return;
    }
  }

  std::string Glob(const std::string& sub) { return (dir_.path() / "lake" / sub).string(); }
  std::string Count(const std::string& sub, const std::string& where = "true") {
    return db_.Scalar("SELECT count(*) FROM read_parquet('" + Glob(sub) +
                      "', hive_partitioning = true) WHERE " + where);
  }
  std::map<std::string, uint64_t> Files(const std::string& prefix) {
    std::map<std::string, uint64_t> out;
    auto list = store_->List(prefix);
    EXPECT_TRUE(list.ok());
    for (const auto& o : list.value()) out[o.key] = o.size;
    return out;
  }

  ::inlet::testing::TempDir dir_;
  std::unique_ptr<storage::LocalObjectStore> store_;
  std::unique_ptr<FaultyStore> faulty_;
  FakeConsumer consumer_;
  int64_t now_ = kDay1 + 3600 * kSecond;
  DuckDbReader db_;
};

TEST_F(DeliveryStreamTest, HivePartitionedLakeHoldsEveryEventOnce) {
  auto s = Make(Config());
  for (int i = 1; i <= 100; ++i)
    consumer_.Publish(Event(i), i <= 60 ? kDay1 + i * kSecond : kDay1 + kDay + i);
  Drain(*s);
  EXPECT_EQ(Files("raw/").size(), 0u);  // nothing is due yet
  ASSERT_TRUE(s->Flush().ok());
  EXPECT_EQ(Count("raw/events/**/*.parquet"), "100");
  auto by_day = db_.Query(
      "SELECT year, month, day, count(*), count(DISTINCT _seq) FROM read_parquet('" +
      Glob("raw/events/**/*.parquet") + "', hive_partitioning = true) GROUP BY ALL ORDER BY ALL");
  ASSERT_EQ(by_day.size(), 2u);
  EXPECT_EQ(by_day[0], (std::vector<std::string>{"2024", "03", "05", "60", "60"}));
  EXPECT_EQ(by_day[1], (std::vector<std::string>{"2024", "03", "06", "40", "40"}));
  EXPECT_EQ(Count("raw/events/**/*.parquet", "_time_source = 'arrival' AND device.os = 'ios'"),
            "100");
  // Deterministic names: <stream>-<version>-<first arrival>-<first seq>-<last seq>.parquet
  auto files = Files("raw/events/");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files.begin()->first,
            "raw/events/year=2024/month=03/day=05/events-raw-1-2024-03-05-10-00-01-1-60.parquet");
  EXPECT_EQ(std::next(files.begin())->first,
            "raw/events/year=2024/month=03/day=06/events-raw-1-2024-03-06-10-00-00-61-100.parquet");
  EXPECT_EQ(consumer_.unacked(), 0u);
  EXPECT_EQ(s->state().committed, 100u);
  EXPECT_FALSE(s->state().intent.has_value());
  DeliveryMetrics m = s->Metrics();
  EXPECT_EQ(m.files_written, 2u);
  EXPECT_EQ(m.rows_written, 100u);
  EXPECT_GT(m.bytes_written, 0u);
  EXPECT_EQ(m.flushes_by_reason["shutdown"], 1u);
}

TEST_F(DeliveryStreamTest, ConversionFailuresLandInTheErrorPrefixWithTheirReason) {
  auto s = Make(Config());
  consumer_.Publish(Event(1), kDay1);
  consumer_.Publish(R"({"id":"e2","device":{"os":"ios","ver":"seventeen"}})", kDay1);
  consumer_.Publish(R"({"device":{}})", kDay1);
  consumer_.Publish(R"({"id":"e4","ts":"not a time"})", kDay1);
  consumer_.Publish("{\"id\":\"e5\",\"pad\":\"\xff\"}", kDay1);  // not UTF-8
  consumer_.Publish(Event(6), kDay1);
  Drain(*s);
  ASSERT_TRUE(s->Flush().ok());
  EXPECT_EQ(Count("raw/events/**/*.parquet"), "2");
  auto errors = db_.Query(
      "SELECT _seq, stream, error_output_type, error_code, error_path, error_message, raw_payload, "
      "year "
      "FROM read_parquet('" +
      Glob("errors/**/*.parquet") + "', hive_partitioning = true) ORDER BY _seq");
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0][0], "2");
  EXPECT_EQ(errors[0][1], "events-raw");
  EXPECT_EQ(errors[0][2], "format-conversion-failed");
  EXPECT_EQ(errors[0][3], "type_mismatch");
  EXPECT_EQ(errors[0][4], "$.device.ver");
  EXPECT_NE(errors[0][5].find("expected an integer"), std::string::npos);
  EXPECT_EQ(errors[0][6], R"({"id":"e2","device":{"os":"ios","ver":"seventeen"}})");
  EXPECT_EQ(errors[0][7], "2024");
  EXPECT_EQ(errors[1][3], "missing_field");
  EXPECT_EQ(errors[1][4], "$.id");
  EXPECT_EQ(errors[2][3], "invalid_format");
  EXPECT_EQ(errors[2][4], "$.ts");
  EXPECT_EQ(errors[3][3], "malformed_json");
  EXPECT_NE(errors[3][5].find("base64"), std::string::npos);
  auto files = Files("errors/");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files.begin()->first,
            "errors/format-conversion-failed/year=2024/month=03/day=05/"
            "events-raw-1-2024-03-05-10-00-00-2-5.parquet");
  EXPECT_EQ(consumer_.unacked(), 0u);  // errors are committed too, never lost
  DeliveryMetrics m = s->Metrics();
  EXPECT_EQ(m.errors_by_type["type_mismatch"], 1u);
  EXPECT_EQ(m.error_rows_written, 4u);
}

TEST_F(DeliveryStreamTest, IntervalTriggersAFlush) {
  DeliveryStreamConfig c = Config();
  c.buffer_interval = std::chrono::seconds(60);
  auto s = Make(c);
  consumer_.Publish(Event(1), kDay1);
  ASSERT_TRUE(s->PollOnce().ok());
  now_ += 59 * kSecond;
  consumer_.Publish(Event(2), kDay1);
  ASSERT_TRUE(s->PollOnce().ok());
  EXPECT_EQ(Files("raw/").size(), 0u);
  EXPECT_EQ(s->Metrics().buffered_events, 2u);
  now_ += 1 * kSecond;
  ASSERT_TRUE(s->PollOnce().ok());
  EXPECT_EQ(Count("raw/events/**/*.parquet"), "2");
  EXPECT_EQ(s->Metrics().flushes_by_reason["interval"], 1u);
  EXPECT_EQ(consumer_.unacked(), 0u);
}

TEST_F(DeliveryStreamTest, IdleTimeTriggersAFlush) {
  DeliveryStreamConfig c = Config();
  c.idle_flush = std::chrono::seconds(10);
  auto s = Make(c);
  consumer_.Publish(Event(1), kDay1);
  ASSERT_TRUE(s->PollOnce().ok());
  now_ += 9 * kSecond;
  ASSERT_TRUE(s->PollOnce().ok());
  EXPECT_EQ(Files("raw/").size(), 0u);
  now_ += 1 * kSecond;
  ASSERT_TRUE(s->PollOnce().ok());
  EXPECT_EQ(Count("raw/events/**/*.parquet"), "1");
  EXPECT_EQ(s->Metrics().flushes_by_reason["idle"], 1u);
}

TEST_F(DeliveryStreamTest, SizeTriggersAFlushAndMaxFileSizeSplits) {
  DeliveryStreamConfig c = Config();
  c.buffer_size_bytes = 1 << 20;
  c.max_file_bytes = 1 << 20;
  c.fetch_max_messages = 2000;
  auto s = Make(c);
  const std::string pad = R"(,"pad":")" + std::string(1000, 'x') + "\"";
  for (int i = 1; i <= 1500; ++i) consumer_.Publish(Event(i, "ios", pad), kDay1);
  ASSERT_TRUE(s->PollOnce().ok());
  // The first MiB was flushed as soon as it was buffered; the rest waits.
  EXPECT_EQ(s->Metrics().flushes_by_reason["size"], 1u);
  std::string flushed = Count("raw/events/**/*.parquet");
  EXPECT_GT(std::stoi(flushed), 900);
  EXPECT_LT(std::stoi(flushed), 1100);
  EXPECT_EQ(consumer_.unacked(), 1500u - std::stoul(flushed));
  ASSERT_TRUE(s->Flush().ok());
  EXPECT_EQ(Count("raw/events/**/*.parquet"), "1500");
  EXPECT_EQ(
      db_.Scalar("SELECT count(DISTINCT _seq) FROM '" + Glob("raw/events/**/*.parquet") + "'"),
      "1500");
}

TEST_F(DeliveryStreamTest, DynamicPartitioningByPayloadKeys) {
  DeliveryStreamConfig c = Config();
  c.partition_keys = {{"os", "$.device.os"},
                      {"region", ".meta.region"}};  // in and outside the schema
  c.prefix =
      "os=!{partitionKeyFromQuery:os}/region=!{partitionKeyFromQuery:region}/"
      "year=!{timestamp:yyyy}/";
  auto s = Make(c);
  const char* oses[] = {"ios", "android", "web"};
  for (int i = 1; i <= 30; ++i) {
    consumer_.Publish(
        Event(i, oses[i % 3], R"(,"meta":{"region":")" + std::string(i % 2 ? "eu" : "us") + "\"}"),
        kDay1);
  }
  consumer_.Publish(Event(31, "ios"), kDay1);  // no meta.region
  Drain(*s);
  ASSERT_TRUE(s->Flush().ok());
  auto groups = db_.Query("SELECT os, region, count(*) FROM read_parquet('" +
                          Glob("raw/events/**/*.parquet") +
                          "', hive_partitioning = true) GROUP BY ALL ORDER BY ALL");
  ASSERT_EQ(groups.size(), 6u);
  EXPECT_EQ(groups[0], (std::vector<std::string>{"android", "eu", "5"}));
  EXPECT_EQ(Files("raw/events/").size(), 6u);
  for (const auto& [key, size] : Files("raw/events/")) {
    EXPECT_TRUE(std::regex_match(
        key, std::regex(R"(raw/events/os=\w+/region=\w+/year=2024/)"
                        R"(events-raw-1-2024-03-05-10-00-00-\d+-\d+-[0-9a-f]{8}\.parquet)")))
        << key;
  }
  auto failed = db_.Query("SELECT error_output_type, error_code, error_path FROM '" +
                          Glob("errors/**/*.parquet") + "'");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0], (std::vector<std::string>{"partitioning-failed", "missing_partition_key",
                                                 "$.meta.region"}));
}

TEST_F(DeliveryStreamTest, EventTimePartitionsWithArrivalFallback) {
  DeliveryStreamConfig c = Config();
  c.time_field = "ts";
  auto s = Make(c);
  consumer_.Publish(Event(1, "ios", R"(,"ts":"2023-12-31T23:59:59Z")"), kDay1);
  consumer_.Publish(Event(2, "ios", R"(,"ts":1700000000)"), kDay1);
  consumer_.Publish(Event(3), kDay1);  // no ts: arrival time
  Drain(*s);
  ASSERT_TRUE(s->Flush().ok());
  auto rows =
      db_.Query("SELECT id, _time_source, year, month, day FROM read_parquet('" +
                Glob("raw/events/**/*.parquet") + "', hive_partitioning = true) ORDER BY id");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"e1", "event", "2023", "12", "31"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"e2", "event", "2023", "11", "14"}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"e3", "arrival", "2024", "03", "05"}));
}

TEST_F(DeliveryStreamTest, TimeFieldOutsideTheSchemaFallsBackWhenUnparsable) {
  DeliveryStreamConfig c = Config();
  c.time_field = "$.meta.when";
  auto s = Make(c);
  consumer_.Publish(Event(1, "ios", R"(,"meta":{"when":"2022-06-01T00:00:00Z"})"), kDay1);
  consumer_.Publish(Event(2, "ios", R"(,"meta":{"when":"soon"})"), kDay1);
  Drain(*s);
  ASSERT_TRUE(s->Flush().ok());
  auto rows =
      db_.Query("SELECT id, _time_source, year FROM read_parquet('" +
                Glob("raw/events/**/*.parquet") + "', hive_partitioning = true) ORDER BY id");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"e1", "event", "2022"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"e2", "arrival", "2024"}));
}

TEST_F(DeliveryStreamTest, UnknownFieldsKeptInAJsonColumn) {
  DeliveryStreamConfig c = Config();
  c.keep_unknown_fields = true;
  auto s = Make(c);
  consumer_.Publish(Event(1, "ios", R"(,"campaign":{"id":7},"ref":"x")"), kDay1);
  consumer_.Publish(Event(2), kDay1);
  Drain(*s);
  ASSERT_TRUE(s->Flush().ok());
  auto rows = db_.Query("SELECT id, _extra::VARCHAR FROM '" + Glob("raw/events/**/*.parquet") +
                        "' ORDER BY id");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][1], R"({"campaign":{"id":7},"ref":"x"})");
  EXPECT_EQ(rows[1][1], "NULL");
  EXPECT_EQ(db_.Scalar("SELECT _extra->>'$.campaign.id' FROM '" + Glob("raw/events/**/*.parquet") +
                       "' WHERE id = 'e1'"),
            "7");
}

TEST_F(DeliveryStreamTest, OpenPartitionLimitFlushesEarly) {
  DeliveryStreamConfig c = Config();
  c.partition_keys = {{"os", "$.device.os"}};
  c.prefix = "os=!{partitionKeyFromQuery:os}/";
  c.max_open_partitions = 2;
  auto s = Make(c);
  const char* oses[] = {"a", "b", "c"};
  for (int i = 0; i < 9; ++i) consumer_.Publish(Event(i, oses[i % 3]), kDay1);
  Drain(*s);
  EXPECT_GE(s->Metrics().flushes_by_reason["limit"], 1u);
  EXPECT_LE(s->Metrics().open_partitions, 2u);
  ASSERT_TRUE(s->Flush().ok());
  EXPECT_EQ(Count("raw/events/**/*.parquet"), "9");
}

TEST_F(DeliveryStreamTest, RedeliveryWhileBufferedIsNotDuplicated) {
  auto s = Make(Config());
  for (int i = 1; i <= 10; ++i) consumer_.Publish(Event(i), kDay1);
  Drain(*s);
  consumer_.Restart();  // as if the visibility timeout expired
  Drain(*s);
  EXPECT_EQ(s->Metrics().duplicates_ignored, 10u);
  ASSERT_TRUE(s->Flush().ok());
  EXPECT_EQ(Count("raw/events/**/*.parquet"), "10");
  EXPECT_EQ(consumer_.unacked(), 0u);  // the newest receipts were acknowledged
}

// Events that arrive after later ones (held by another consumer, then given
// back) take their place in the range, and a redelivery of either kind is
// recognised: each event is written once and every one is acknowledged.
TEST_F(DeliveryStreamTest, EventsArrivingOutOfOrderAreWrittenOnceEach) {
  auto s = Make(Config());
  for (int i = 1; i <= 10; ++i) consumer_.Publish(Event(i), kDay1);
  bus::FetchOptions three;
  three.max_messages = 3;
  auto held = consumer_.Fetch(three);  // seqs 1..3, taken by someone else
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(held->size(), 3u);
  Drain(*s);  // 4..10
  std::vector<bus::Receipt> receipts;
  for (const auto& d : *held) receipts.push_back(d.receipt);
  ASSERT_TRUE(consumer_.Nack(receipts, bus::Millis(0)).ok());
  Drain(*s);  // 1..3, after 10
  EXPECT_EQ(s->Metrics().duplicates_ignored, 0u);
  consumer_.Restart();  // all ten again, below the range's last
  Drain(*s);
  EXPECT_EQ(s->Metrics().duplicates_ignored, 10u);
  ASSERT_TRUE(s->Flush().ok());
  EXPECT_EQ(Count("raw/events/**/*.parquet"), "10");
  EXPECT_EQ(db_.Scalar("SELECT count(DISTINCT id) || ' ' || sum(value) FROM '" +
                       Glob("raw/events/**/*.parquet") + "'"),
            "10 55.0");
  EXPECT_EQ(consumer_.unacked(), 0u);
}

// Crash after the files were renamed into place but before the state commit:
// the restart re-assembles exactly the same range and rewrites the same files.
TEST_F(DeliveryStreamTest, ReplayAfterCrashBeforeStateCommitHasNoDuplicates) {
  DeliveryStreamConfig c = Config();
  c.partition_keys = {{"os", "$.device.os"}};
  c.prefix = "os=!{partitionKeyFromQuery:os}/!{timestamp:yyyy}/";
  {
    auto s = Make(c, /*faulty=*/true);
    faulty_->fail_state_commit = true;
    for (int i = 1; i <= 20; ++i) {
      consumer_.Publish(Event(i, i % 2 ? "ios" : "android"), kDay1 + i);
      if (i % 7 == 0) consumer_.SkipSeq();  // holes: events another subscription filtered out
    }
    consumer_.Publish(R"({"id":5})", kDay1);  // a conversion error in the same range
    Drain(*s);
    EXPECT_FALSE(s->Flush().ok());
    EXPECT_TRUE(s->state().intent.has_value());
  }  // the process dies: nothing was acknowledged
  auto before = Files("");
  EXPECT_EQ(before.size(), 4u);  // 2 data files, 1 error file, the state
  EXPECT_NE(store_->Get("_state/events-raw.json")->find("\"intent\":{\"first\":1,\"last\":23}"),
            std::string::npos);
  EXPECT_EQ(consumer_.unacked(), 21u);
  for (int i = 21; i <= 25; ++i)
    consumer_.Publish(Event(i, "ios"), kDay1 + 100);  // more after the crash

  faulty_->fail_state_commit = false;
  consumer_.Restart();
  auto s = Make(c, /*faulty=*/true);
  Drain(*s);
  ASSERT_TRUE(s->Flush().ok());
  auto after = Files("");
  for (const auto& [key, size] : before) {
    if (key.starts_with("_state/")) continue;
    ASSERT_TRUE(after.count(key)) << key << " was not rewritten under the same name";
    EXPECT_EQ(after[key], size) << key;
  }
  EXPECT_EQ(Count("raw/events/**/*.parquet"), "25");
  EXPECT_EQ(
      db_.Scalar("SELECT count(DISTINCT _seq) FROM '" + Glob("raw/events/**/*.parquet") + "'"),
      "25");
  EXPECT_EQ(Count("errors/**/*.parquet"), "1");
  EXPECT_EQ(s->Metrics().flushes_by_reason["replay"], 1u);
  EXPECT_EQ(consumer_.unacked(), 0u);
  EXPECT_EQ(s->state().committed, 28u);
}

// Crash between two file renames of one range.
TEST_F(DeliveryStreamTest, ReplayAfterCrashBetweenFilesHasNoDuplicates) {
  DeliveryStreamConfig c = Config();
  c.partition_keys = {{"os", "$.device.os"}};
  c.prefix = "os=!{partitionKeyFromQuery:os}/";
  {
    auto s = Make(c, true);
    faulty_->fail_put_file_after = 1;
    for (int i = 1; i <= 12; ++i)
      consumer_.Publish(Event(i, i % 3 == 0 ? "web" : (i % 3 == 1 ? "ios" : "android")), kDay1);
    Drain(*s);
    EXPECT_FALSE(s->Flush().ok());
  }
  EXPECT_EQ(Files("raw/").size(), 1u);
  faulty_->fail_put_file_after = -1;
  consumer_.Restart();
  auto s = Make(c, true);
  Drain(*s);
  ASSERT_TRUE(s->Flush().ok());
  EXPECT_EQ(Files("raw/").size(), 3u);
  EXPECT_EQ(Count("raw/events/**/*.parquet"), "12");
  EXPECT_EQ(
      db_.Scalar("SELECT count(DISTINCT _seq) FROM '" + Glob("raw/events/**/*.parquet") + "'"),
      "12");
}

// Crash after the state commit but before the acknowledgements reached the bus.
TEST_F(DeliveryStreamTest, CommittedEventsAreSkippedOnRedelivery) {
  {
    auto s = Make(Config());
    for (int i = 1; i <= 5; ++i) consumer_.Publish(Event(i), kDay1);
    Drain(*s);
    ASSERT_TRUE(s->Flush().ok());
  }
  auto files = Files("raw/");
  // Undo the acks: the bus redelivers all five.
  FakeConsumer fresh;
  for (int i = 1; i <= 5; ++i) fresh.Publish(Event(i), kDay1);
  fresh.Publish(Event(6), kDay1);
  DeliveryStreamOptions o;
  o.clock_us = [this] { return now_; };
  o.fetch_wait = bus::Millis(0);
  auto s = DeliveryStream::Create(Config(), &fresh, store_.get(), o);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->PollOnce().ok());
  ASSERT_TRUE((*s)->Flush().ok());
  EXPECT_EQ((*s)->Metrics().duplicates_ignored, 5u);
  EXPECT_EQ(fresh.unacked(), 0u);
  EXPECT_EQ(Count("raw/events/**/*.parquet"), "6");
  EXPECT_EQ(Files("raw/").size(), files.size() + 1);
}

TEST_F(DeliveryStreamTest, AbandonWritesNothingAndTheNextOwnerResumesAfterTheLastCommit) {
  auto s = Make(Config());
  EXPECT_EQ(consumer_.started_after(), 0u) << "a new stream reads from the start";
  for (int i = 1; i <= 5; ++i) consumer_.Publish(Event(i), kDay1);
  Drain(*s);
  ASSERT_TRUE(s->Flush().ok());
  const auto files = Files("raw/");
  for (int i = 6; i <= 8; ++i) consumer_.Publish(Event(i), kDay1);
  Drain(*s);
  s->Abandon();  // the partition's lease was lost: another process may own it now
  s.reset();
  EXPECT_EQ(Files("raw/"), files) << "an abandoned stream wrote something";
  EXPECT_EQ(Count("raw/events/**/*.parquet"), "5");
  // The next owner's reader is positioned right after the last commit.
  FakeConsumer next;
  DeliveryStreamOptions o;
  o.clock_us = [this] { return now_; };
  auto again = DeliveryStream::Create(Config(), &next, store_.get(), o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(next.started_after(), 5u);
}

TEST_F(DeliveryStreamTest, NoCommitWhileTheLeaseMayHavePassedOn) {
  bool lease = false;
  DeliveryStreamOptions o;
  o.clock_us = [this] { return now_; };
  o.fetch_wait = bus::Millis(0);
  o.may_commit = [&] { return lease; };
  auto s = DeliveryStream::Create(Config(), &consumer_, store_.get(), o);
  ASSERT_TRUE(s.ok());
  for (int i = 1; i <= 5; ++i) consumer_.Publish(Event(i), kDay1);
  Drain(**s);
  Status refused = (*s)->Flush();
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable) << refused.ToString();
  EXPECT_TRUE(Files("").empty()) << "a process without the lease wrote to the lake";
  EXPECT_EQ(consumer_.acked(), 0u);
  lease = true;
  ASSERT_TRUE((*s)->Flush().ok());
  EXPECT_EQ(Count("raw/events/**/*.parquet"), "5");
}

TEST_F(DeliveryStreamTest, BackgroundThreadDeliversAndStopFlushes) {
  DeliveryStreamConfig c = Config();
  auto s = Make(c);
  s->Start();
  for (int i = 1; i <= 50; ++i) consumer_.Publish(Event(i), kDay1);
  for (int i = 0; i < 200 && s->Metrics().events_received < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(s->Stop().ok());
  EXPECT_EQ(Count("raw/events/**/*.parquet"), "50");
  EXPECT_EQ(consumer_.unacked(), 0u);
}

}  // namespace
}  // namespace inlet::delivery
