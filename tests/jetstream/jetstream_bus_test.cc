// The JetStream bus against a real 3-node nats-server cluster with R3
// streams: what a producer and a consumer of the bus notice (bytes, headers,
// filter policies, SQS redelivery semantics, dead letters, partitions in
// order, leases) and that publishes survive the loss of the stream leader.
#include "bus/jetstream_bus.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "bus/filter_policy.h"
#include "support/nats_cluster.h"
#include "support/test_support.h"

namespace inlet::bus {
namespace {

using inlet::testing::NatsCluster;
using inlet::testing::TempDir;
using namespace std::chrono_literals;

class JetStreamBusTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (NatsCluster::ServerBinary().empty()) return;
    dir_ = new TempDir();
    auto c = NatsCluster::Start(dir_->path(), 3);
    if (!c.ok()) {
      start_error_ = new std::string(c.status().ToString());
      return;
    }
    cluster_ = c.value().release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete dir_;
    dir_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }
  void SetUp() override {
    if (NatsCluster::ServerBinary().empty())
      GTEST_SKIP() << "nats-server is not installed (Debian package nats-server); skipping";
    ASSERT_NE(cluster_, nullptr) << (start_error_ ? *start_error_ : "no cluster");
  }

  // A configuration with a stream prefix unique to this run and test.
  JetStreamConfig Config() {
    static std::atomic<int> n{0};
    static const uint32_t run = std::random_device{}();
    JetStreamConfig c;
    c.servers = cluster_->urls();
    c.stream_prefix = "t" + std::to_string(run % 100000) + "x" + std::to_string(n++);
    c.replicas = 3;
    c.publish_timeout = 2000ms;
    c.api_timeout = 5000ms;
    c.publish_retries = 10;  // 22 s of retries
    c.lease_ttl = 2000ms;
    return c;
  }
  static TopicConfig Topic(const std::string& name) {
    TopicConfig t;
    t.name = name;
    return t;
  }
  static SubscriptionConfig Sub(const std::string& name, const std::string& topic,
                                Millis visibility = 30000ms) {
    SubscriptionConfig s;
    s.name = name;
    s.topic = topic;
    s.visibility_timeout = visibility;
    return s;
  }
  static OutgoingEvent Event(std::string payload, std::string attributes = "",
                             uint32_t partition = 0) {
    OutgoingEvent e;
    e.payload = std::move(payload);
    e.attributes = std::move(attributes);
    e.key_id = "key-1";
    e.partition = partition;
    return e;
  }
  static std::unique_ptr<JetStreamBus> OpenBus(const JetStreamConfig& c) {
    auto bus = JetStreamBus::Open(c);
    EXPECT_TRUE(bus.ok()) << bus.status().ToString();
    return bus.ok() ? std::move(bus).value() : nullptr;
  }
  // Fetches until `n` deliveries arrived or `timeout` passed.
  static std::vector<Delivery> FetchN(Consumer* c, size_t n, Millis timeout = 10000ms) {
    std::vector<Delivery> out;
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n && std::chrono::steady_clock::now() < until) {
      FetchOptions o;
      o.max_messages = n - out.size();
      o.wait = 500ms;
      auto r = c->Fetch(o);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok()) break;
      for (auto& d : r.value()) out.push_back(std::move(d));
    }
    return out;
  }

  static TempDir* dir_;
  static NatsCluster* cluster_;
  static std::string* start_error_;
};

TempDir* JetStreamBusTest::dir_ = nullptr;
NatsCluster* JetStreamBusTest::cluster_ = nullptr;
std::string* JetStreamBusTest::start_error_ = nullptr;

TEST_F(JetStreamBusTest, RoundTripKeepsPayloadBytesAndHeaders) {
  JetStreamConfig c = Config();
  c.topics = {Topic("events")};
  c.subscriptions = {Sub("all", "events")};
  auto bus = OpenBus(c);
  ASSERT_TRUE(bus);
  const std::string odd_payload = std::string("{\"a\":\"x\\r\\n y\"}\r\n \x01\xff", 20);
  const std::string attrs = "{\"k\": {\"DataType\":\"String\",\n \"StringValue\":\"50% off \"}} ";
  std::vector<OutgoingEvent> events;
  events.push_back(Event("{\"n\":1}"));
  events.push_back(Event(odd_payload, attrs));
  events.push_back(Event("{\"n\":3}"));
  auto r = bus->FindTopic("events")->Publish(std::move(events));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->first, 1u);
  EXPECT_EQ(r->last, 3u);
  EXPECT_EQ(bus->FindTopic("events")->LastSeq(), 3u);

  Consumer* all = bus->FindSubscription("all");
  auto got = FetchN(all, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].message.seq, 1u);
  EXPECT_EQ(got[0].message.payload, "{\"n\":1}");
  EXPECT_EQ(got[1].message.payload, odd_payload);
  EXPECT_EQ(got[1].message.attributes, attrs);
  EXPECT_EQ(got[1].message.key_id, "key-1");
  EXPECT_EQ(got[1].receipt.seq, 2u);
  EXPECT_EQ(got[1].receipt.attempt, 1u);
  EXPECT_GT(got[1].message.arrival_us, 0);
  std::vector<Receipt> receipts;
  for (auto& d : got) receipts.push_back(d.receipt);
  ASSERT_TRUE(all->Ack(receipts).ok());
  FetchOptions o;
  o.wait = 300ms;
  auto none = all->Fetch(o);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  std::this_thread::sleep_for(1100ms);  // consumer info is cached for a second
  SubscriptionStats st = all->Stats();
  EXPECT_EQ(st.acked, 3u);
  EXPECT_EQ(st.delivered, 3u);
  EXPECT_EQ(st.backlog, 0u);
}

TEST_F(JetStreamBusTest, FilterPolicyDropsNonMatchingMessages) {
  auto policy = FilterPolicy::Compile(R"({"kind":["keep"]})");
  ASSERT_TRUE(policy.ok()) << policy.status().ToString();
  JetStreamConfig c = Config();
  c.topics = {Topic("events")};
  SubscriptionConfig kept = Sub("kept", "events");
  kept.filter_policy = std::make_shared<const FilterPolicy>(std::move(policy).value());
  c.subscriptions = {kept, Sub("everything", "events")};
  auto bus = OpenBus(c);
  ASSERT_TRUE(bus);
  auto attr = [](const std::string& kind) {
    return R"({"kind":{"DataType":"String","StringValue":")" + kind + R"("}})";
  };
  std::vector<OutgoingEvent> events;
  events.push_back(Event("{\"i\":1}", attr("drop")));
  events.push_back(Event("{\"i\":2}", attr("keep")));
  events.push_back(Event("{\"i\":3}"));
  events.push_back(Event("{\"i\":4}", attr("keep")));
  ASSERT_TRUE(bus->FindTopic("events")->Publish(std::move(events)).ok());

  auto got = FetchN(bus->FindSubscription("kept"), 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].message.payload, "{\"i\":2}");
  EXPECT_EQ(got[1].message.payload, "{\"i\":4}");
  FetchOptions o;
  o.wait = 500ms;
  auto more = bus->FindSubscription("kept")->Fetch(o);
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(more->empty()) << "non-matching messages must never be returned";
  EXPECT_EQ(FetchN(bus->FindSubscription("everything"), 4).size(), 4u);
}

TEST_F(JetStreamBusTest, VisibilityTimeoutRedeliversAndStaleReceiptIsIgnored) {
  JetStreamConfig c = Config();
  c.topics = {Topic("events")};
  c.subscriptions = {Sub("slow", "events", 1000ms)};
  auto bus = OpenBus(c);
  ASSERT_TRUE(bus);
  ASSERT_TRUE(bus->FindTopic("events")->Publish({Event("{\"x\":1}")}).ok());
  Consumer* slow = bus->FindSubscription("slow");
  auto first = FetchN(slow, 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].receipt.attempt, 1u);
  // Not acknowledged: visible again after the visibility timeout.
  auto second = FetchN(slow, 1, 5000ms);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].receipt.seq, first[0].receipt.seq);
  EXPECT_EQ(second[0].receipt.attempt, 2u);
  // The first receipt is stale: acknowledging it changes nothing.
  ASSERT_TRUE(slow->Ack(std::vector<Receipt>{first[0].receipt}).ok());
  EXPECT_EQ(slow->Stats().acked, 0u);
  ASSERT_TRUE(slow->Ack(std::vector<Receipt>{second[0].receipt}).ok());
  EXPECT_EQ(slow->Stats().acked, 1u);
  FetchOptions o;
  o.wait = 1500ms;
  auto none = slow->Fetch(o);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(JetStreamBusTest, NackWithDelayRedeliversAfterTheDelay) {
  JetStreamConfig c = Config();
  c.topics = {Topic("events")};
  c.subscriptions = {Sub("s", "events")};
  auto bus = OpenBus(c);
  ASSERT_TRUE(bus);
  ASSERT_TRUE(bus->FindTopic("events")->Publish({Event("{\"x\":1}")}).ok());
  Consumer* s = bus->FindSubscription("s");
  auto first = FetchN(s, 1);
  ASSERT_EQ(first.size(), 1u);
  const auto nacked_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(s->Nack(std::vector<Receipt>{first[0].receipt}, 1500ms).ok());
  FetchOptions o;
  o.wait = 500ms;
  auto early = s->Fetch(o);
  ASSERT_TRUE(early.ok());
  EXPECT_TRUE(early->empty())
      << "redelivered before the nack delay: attempt "
      << (early->empty() ? 0 : (*early)[0].receipt.attempt) << " after "
      << std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - nacked_at).count()
      << " ms";
  auto again = FetchN(s, 1, 5000ms);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_GE(std::chrono::steady_clock::now() - nacked_at, 1400ms);
  EXPECT_EQ(again[0].receipt.attempt, 2u);
}

TEST_F(JetStreamBusTest, MaxReceiveCountMovesTheMessageToTheDeadLetterTopic) {
  JetStreamConfig c = Config();
  c.topics = {Topic("events"), Topic("dead")};
  SubscriptionConfig s = Sub("work", "events", 1000ms);
  s.max_receive_count = 2;
  s.dead_letter_topic = "dead";
  c.subscriptions = {s, Sub("dead-reader", "dead")};
  auto bus = OpenBus(c);
  ASSERT_TRUE(bus);
  const std::string attrs = R"({"a":{"DataType":"String","StringValue":"b"}})";
  ASSERT_TRUE(bus->FindTopic("events")->Publish({Event("{\"poison\":true}", attrs)}).ok());
  Consumer* work = bus->FindSubscription("work");
  for (uint32_t attempt = 1; attempt <= 2; ++attempt) {
    auto d = FetchN(work, 1, 5000ms);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].receipt.attempt, attempt);
    ASSERT_TRUE(work->Nack(std::vector<Receipt>{d[0].receipt}, 0ms).ok());
  }
  // The server gives up at the next delivery attempt (while someone pulls).
  std::vector<Delivery> dead;
  const auto until = std::chrono::steady_clock::now() + 15s;
  while (dead.empty() && std::chrono::steady_clock::now() < until) {
    FetchOptions o;
    o.wait = 300ms;
    auto w = work->Fetch(o);
    ASSERT_TRUE(w.ok());
    EXPECT_TRUE(w->empty()) << "delivered more than max_receive_count times";
    dead = FetchN(bus->FindSubscription("dead-reader"), 1, 300ms);
  }
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].message.payload, "{\"poison\":true}");
  EXPECT_EQ(dead[0].message.attributes, attrs);
  EXPECT_EQ(dead[0].message.key_id, "key-1");
  EXPECT_EQ(work->Stats().dead_lettered, 1u);
}

TEST_F(JetStreamBusTest, PartitionReaderDeliversInOrderFromItsOwnersPosition) {
  JetStreamConfig c = Config();
  c.topics = {Topic("events")};
  c.partitions["events"] = 2;
  c.subscriptions = {Sub("proc", "events")};
  auto bus = OpenBus(c);
  ASSERT_TRUE(bus);
  EXPECT_EQ(bus->Partitions("proc"), 2u);
  std::vector<OutgoingEvent> events;
  for (int i = 0; i < 20; ++i)
    events.push_back(Event("{\"i\":" + std::to_string(i) + "}", "", i % 2));
  ASSERT_TRUE(bus->FindTopic("events")->Publish(std::move(events)).ok());

  auto p0 = bus->OpenPartition("proc", 0);
  ASSERT_TRUE(p0.ok()) << p0.status().ToString();
  ASSERT_TRUE(p0.value()->StartAfter(0).ok());
  auto got = FetchN(p0.value().get(), 10);
  ASSERT_EQ(got.size(), 10u);
  for (int k = 0; k < 10; ++k)
    EXPECT_EQ(got[k].message.payload, "{\"i\":" + std::to_string(2 * k) + "}");
  // Nack rewinds: the nacked message and everything after it come again, in order.
  ASSERT_TRUE(p0.value()->Ack(std::span(&got[0].receipt, 1)).ok());
  ASSERT_TRUE(p0.value()->Nack(std::span(&got[7].receipt, 1), 0ms).ok());
  auto again7 = FetchN(p0.value().get(), 3);
  ASSERT_EQ(again7.size(), 3u);
  EXPECT_EQ(again7[0].message.seq, got[7].message.seq);
  EXPECT_EQ(again7[2].message.seq, got[9].message.seq);
  p0.value().reset();  // the owner goes away; it had committed the first four

  auto next = bus->OpenPartition("proc", 0);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ASSERT_TRUE(next.value()->StartAfter(got[3].message.seq).ok());
  auto rest = FetchN(next.value().get(), 6);
  ASSERT_EQ(rest.size(), 6u);
  for (int k = 0; k < 6; ++k) {
    EXPECT_EQ(rest[k].message.payload, "{\"i\":" + std::to_string(2 * (k + 4)) + "}");
    EXPECT_EQ(rest[k].message.seq, got[k + 4].message.seq);
  }
  FetchOptions o;
  o.wait = 300ms;
  auto none = next.value()->Fetch(o);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(next.value()->Stats().in_flight, 6u);
  next.value().reset();

  auto p1 = bus->OpenPartition("proc", 1);
  ASSERT_TRUE(p1.ok());
  ASSERT_TRUE(p1.value()->StartAfter(0).ok());
  auto odd = FetchN(p1.value().get(), 10);
  ASSERT_EQ(odd.size(), 10u);
  EXPECT_EQ(odd[0].message.payload, "{\"i\":1}");
  p1.value().reset();
  EXPECT_EQ(bus->OpenPartition("proc", 2).status().code(), StatusCode::kInvalidArgument);
  // A partition outside the topic is refused at publish.
  EXPECT_EQ(bus->FindTopic("events")->Publish({Event("{}", "", 7)}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(JetStreamBusTest, LeasesCreateConflictUpdateAndExpire) {
  JetStreamConfig c = Config();
  c.topics = {Topic("events")};
  auto bus = OpenBus(c);
  ASSERT_TRUE(bus);
  LeaseStore* leases = bus->Leases();
  ASSERT_NE(leases, nullptr);
  EXPECT_EQ(leases->ttl(), 2000ms);
  auto rev = leases->Create("deliver.partition.0", "worker-a");
  ASSERT_TRUE(rev.ok()) << rev.status().ToString();
  EXPECT_EQ(leases->Create("deliver.partition.0", "worker-b").status().code(),
            StatusCode::kAlreadyExists);
  auto rev2 = leases->Update("deliver.partition.0", "worker-a+", rev.value());
  ASSERT_TRUE(rev2.ok()) << rev2.status().ToString();
  EXPECT_GT(rev2.value(), rev.value());
  EXPECT_EQ(leases->Update("deliver.partition.0", "worker-b", rev.value()).status().code(),
            StatusCode::kAlreadyExists);
  ASSERT_TRUE(leases->Create("deliver.partition.1", "worker-b").ok());
  ASSERT_TRUE(leases->Create("process.partition.0", "worker-c").ok());
  auto list = leases->List("deliver.");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0],
            std::make_pair(std::string("deliver.partition.0"), std::string("worker-a+")));
  EXPECT_EQ((*list)[1].second, "worker-b");
  ASSERT_TRUE(leases->Delete("deliver.partition.1").ok());
  EXPECT_EQ(leases->List("deliver.")->size(), 1u);
  EXPECT_TRUE(leases->Create("deliver.partition.1", "worker-d").ok());
  EXPECT_EQ(leases->Create("bad key", "x").status().code(), StatusCode::kInvalidArgument);

  // Not refreshed: gone after the TTL, and free to take.
  std::this_thread::sleep_for(3500ms);
  EXPECT_EQ(leases->Update("deliver.partition.0", "late", rev2.value()).status().code(),
            StatusCode::kNotFound);
  EXPECT_TRUE(leases->List("")->empty());
  EXPECT_TRUE(leases->Create("deliver.partition.0", "worker-e").ok());
}

TEST_F(JetStreamBusTest, ReopeningKeepsTheStreamAndUpdatesItsSettings) {
  JetStreamConfig c = Config();
  c.topics = {Topic("events")};
  c.subscriptions = {Sub("s", "events")};
  {
    auto bus = OpenBus(c);
    ASSERT_TRUE(bus);
    ASSERT_TRUE(bus->FindTopic("events")->Publish({Event("{}"), Event("{}")}).ok());
  }
  c.max_age = std::chrono::seconds(3600);
  c.subscriptions[0].visibility_timeout = 5000ms;
  auto bus = OpenBus(c);
  ASSERT_TRUE(bus);
  EXPECT_EQ(bus->FindTopic("events")->LastSeq(), 2u);
  EXPECT_EQ(FetchN(bus->FindSubscription("s"), 2).size(), 2u);
}

// Last: kills a node (restarted at the end).
TEST_F(JetStreamBusTest, PublishSurvivesKillingTheStreamLeader) {
  JetStreamConfig c = Config();
  c.topics = {Topic("events")};
  c.subscriptions = {Sub("check", "events"), Sub("ordered", "events")};
  auto bus = OpenBus(c);
  ASSERT_TRUE(bus);
  const std::string stream = JetStreamBus::StreamName(c, "events");
  inlet::bus::Topic* topic = bus->FindTopic("events");
  constexpr int kBatches = 60, kPerBatch = 50;
  // A partition reader reads along, through the kill: in order, no gap, no
  // repeat (a delivery lost in transit must not be skipped).
  std::vector<std::string> read_in_order;
  std::string reader_error;
  std::thread reader([&] {
    auto p = bus->OpenPartition("ordered", 0);
    if (!p.ok()) {
      reader_error = p.status().ToString();
      return;
    }
    (void)p.value()->StartAfter(0);
    uint64_t last = 0;
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (read_in_order.size() < size_t{kBatches * kPerBatch} &&
           std::chrono::steady_clock::now() < until) {
      FetchOptions o;
      o.max_messages = 37;
      o.wait = 200ms;
      auto got = p.value()->Fetch(o);
      if (!got.ok()) {
        std::this_thread::sleep_for(100ms);  // as the delivery and processing loops do
        continue;
      }
      for (auto& d : *got) {
        if (d.message.seq <= last && reader_error.empty())
          reader_error = "seq " + std::to_string(d.message.seq) + " after " + std::to_string(last);
        last = d.message.seq;
        read_in_order.push_back(d.message.payload);
      }
    }
  });
  std::atomic<int> ok{0}, failed{0};
  std::string first_error;
  std::mutex error_mu;
  std::thread producer([&] {
    for (int b = 0; b < kBatches; ++b) {
      std::vector<OutgoingEvent> events;
      for (int i = 0; i < kPerBatch; ++i)
        events.push_back(Event("{\"id\":" + std::to_string(b * kPerBatch + i) + "}"));
      auto r = topic->Publish(std::move(events));
      if (r.ok()) {
        ++ok;
      } else {
        ++failed;
        std::lock_guard lock(error_mu);
        if (first_error.empty()) first_error = r.status().ToString();
      }
      std::this_thread::sleep_for(20ms);
    }
  });
  while (ok.load() < 5) std::this_thread::sleep_for(10ms);
  auto leader = cluster_->LeaderOf(stream);
  ASSERT_TRUE(leader.ok()) << leader.status().ToString();
  ASSERT_TRUE(cluster_->Kill(leader.value()).ok());
  producer.join();
  EXPECT_EQ(failed.load(), 0) << first_error;
  EXPECT_EQ(ok.load(), kBatches);
  EXPECT_GT(bus->publish_retries(), 0u) << "the kill did not disturb anything?";

  // Every event exactly once.
  auto got = FetchN(bus->FindSubscription("check"), kBatches * kPerBatch, 30000ms);
  std::set<std::string> unique;
  std::map<std::string, std::vector<uint64_t>> seqs;
  for (auto& d : got) {
    unique.insert(d.message.payload);
    seqs[d.message.payload].push_back(d.message.seq);
  }
  int shown = 0;
  for (auto& [payload, list] : seqs) {
    if (list.size() > 1 && shown++ < 5)
      ADD_FAILURE() << payload << " stored " << list.size() << " times, at " << list[0] << " and "
                    << list[1];
  }
  EXPECT_EQ(got.size(), static_cast<size_t>(kBatches * kPerBatch));
  EXPECT_EQ(unique.size(), static_cast<size_t>(kBatches * kPerBatch));
  FetchOptions o;
  o.wait = 500ms;
  auto extra = bus->FindSubscription("check")->Fetch(o);
  ASSERT_TRUE(extra.ok());
  EXPECT_TRUE(extra->empty()) << "duplicates in the stream";
  reader.join();
  EXPECT_EQ(reader_error, "");
  std::sort(got.begin(), got.end(),
            [](const Delivery& a, const Delivery& b) { return a.message.seq < b.message.seq; });
  ASSERT_EQ(read_in_order.size(), got.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(read_in_order[i], got[i].message.payload) << "at " << i;
  bus->Close();
  ASSERT_TRUE(cluster_->Restart(leader.value()).ok());
  EXPECT_TRUE(cluster_->WaitReady(30000ms).ok());
}

}  // namespace
}  // namespace inlet::bus
