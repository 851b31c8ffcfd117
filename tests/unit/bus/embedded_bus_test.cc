#include "bus/embedded_bus.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "bus/filter_policy.h"
#include "support/test_support.h"

namespace inlet::bus {
namespace {
using inlet::testing::TempDir;
using namespace std::chrono_literals;

EmbeddedBusConfig ThreeSubscriptions(const std::filesystem::path& dir) {
  EmbeddedBusConfig c;
  c.log_dir = dir;
  c.topics = {TopicConfig{"events", 8 << 10, std::chrono::seconds(0)},
              TopicConfig{"dlq", 1 << 20, {}}};
  for (const char* name : {"a", "b", "c"}) {
    SubscriptionConfig s;
    s.name = name;
    s.topic = "events";
    s.visibility_timeout = 200ms;
    s.max_receive_count = 2;
    s.dead_letter_topic = "dlq";
    c.subscriptions.push_back(s);
  }
  SubscriptionConfig d;
  d.name = "dlq-reader";
  d.topic = "dlq";
  c.subscriptions.push_back(d);
  return c;
}

void PublishN(Bus& bus, int from, int n) {
  std::vector<OutgoingEvent> events;
  for (int i = from; i < from + n; ++i)
    events.push_back({"{\"id\":" + std::to_string(i) + "}", "", "", ""});
  auto r = bus.FindTopic("events")->Publish(std::move(events));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

std::vector<Delivery> FetchAll(Consumer& c, size_t max = 100000, Millis wait = 0ms) {
  FetchOptions o;
  o.max_messages = max;
  o.wait = wait;
  auto r = c.Fetch(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : std::vector<Delivery>{};
}

void AckAll(Consumer& c, const std::vector<Delivery>& ds) {
  std::vector<Receipt> rs;
  for (auto& d : ds) rs.push_back(d.receipt);
  ASSERT_TRUE(c.Ack(rs).ok());
}

TEST(EmbeddedBusTest, EverySubscriptionReceivesEveryEvent) {
  TempDir dir;
  auto bus = EmbeddedBus::Open(ThreeSubscriptions(dir.path()));
  ASSERT_TRUE(bus.ok()) << bus.status().ToString();
  PublishN(**bus, 0, 500);
  for (const char* name : {"a", "b", "c"}) {
    auto ds = FetchAll(*(*bus)->FindSubscription(name));
    ASSERT_EQ(ds.size(), 500u) << name;
    for (size_t i = 0; i < ds.size(); ++i) EXPECT_EQ(ds[i].message.seq, i + 1);
    EXPECT_EQ(ds[42].message.payload, "{\"id\":42}");
  }
}

TEST(EmbeddedBusTest, UnackedEventsReappearAfterTheVisibilityTimeout) {
  TempDir dir;
  auto bus = EmbeddedBus::Open(ThreeSubscriptions(dir.path()));
  PublishN(**bus, 0, 10);
  Consumer& a = *(*bus)->FindSubscription("a");
  auto first = FetchAll(a);
  ASSERT_EQ(first.size(), 10u);
  // Ack half; the other half is invisible until the timeout.
  AckAll(a, std::vector<Delivery>(first.begin(), first.begin() + 5));
  EXPECT_TRUE(FetchAll(a).empty());
  auto again = FetchAll(a, 100, 2000ms);  // long poll until they reappear
  ASSERT_EQ(again.size(), 5u);
  EXPECT_EQ(again[0].message.seq, 6u);
  EXPECT_EQ(again[0].receipt.attempt, 2u);
  // The old receipt is stale now and does not acknowledge.
  ASSERT_TRUE(a.Ack(std::vector<Receipt>{first[5].receipt}).ok());
  EXPECT_EQ(a.Stats().in_flight, 5u);
  AckAll(a, again);
  EXPECT_EQ(a.Stats().backlog, 0u);
}

// A fetch's messages share one visibility timer. When it runs out, exactly
// the ones still unacknowledged and not nacked reappear, in seq order, across
// several fetches when they do not fit one; a nacked one comes back at its
// own time, once.
TEST(EmbeddedBusTest, OneFetchsUnackedEventsReappearAcrossSeveralFetches) {
  TempDir dir;
  auto bus = EmbeddedBus::Open(ThreeSubscriptions(dir.path()));
  PublishN(**bus, 0, 100);
  Consumer& a = *(*bus)->FindSubscription("a");
  auto first = FetchAll(a);
  ASSERT_EQ(first.size(), 100u);
  std::vector<Delivery> even;
  for (const Delivery& d : first) {
    if (d.message.seq % 2 == 0) even.push_back(d);
  }
  AckAll(a, even);
  ASSERT_TRUE(a.Nack(std::vector<Receipt>{first[0].receipt}, 20ms).ok());  // seq 1
  auto nacked = FetchAll(a, 100, 150ms);
  ASSERT_EQ(nacked.size(), 1u);
  EXPECT_EQ(nacked[0].message.seq, 1u);
  AckAll(a, nacked);
  std::vector<uint64_t> seqs;
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (seqs.size() < 49 && std::chrono::steady_clock::now() < deadline) {
    auto batch = FetchAll(a, 10, 500ms);
    EXPECT_LE(batch.size(), 10u);
    for (const Delivery& d : batch) {
      EXPECT_EQ(d.receipt.attempt, 2u);
      seqs.push_back(d.message.seq);
    }
    AckAll(a, batch);  // so that none can time out again
  }
  std::vector<uint64_t> expected;
  for (uint64_t s = 3; s <= 99; s += 2) expected.push_back(s);
  EXPECT_EQ(seqs, expected);
  EXPECT_EQ(a.Stats().in_flight, 0u);
  EXPECT_EQ(a.Stats().backlog, 0u);
}

TEST(EmbeddedBusTest, NackWithDelayRedeliversAfterTheDelay) {
  TempDir dir;
  auto bus = EmbeddedBus::Open(ThreeSubscriptions(dir.path()));
  PublishN(**bus, 0, 1);
  Consumer& b = *(*bus)->FindSubscription("b");
  auto d = FetchAll(b);
  ASSERT_EQ(d.size(), 1u);
  ASSERT_TRUE(b.Nack(std::vector<Receipt>{d[0].receipt}, 50ms).ok());
  auto t0 = std::chrono::steady_clock::now();
  auto again = FetchAll(b, 10, 1000ms);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 40ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 190ms);  // before the 200 ms visibility timeout
}

TEST(EmbeddedBusTest, MaxReceiveCountMovesTheEventToTheDeadLetterTopic) {
  TempDir dir;
  auto bus = EmbeddedBus::Open(ThreeSubscriptions(dir.path()));
  PublishN(**bus, 7, 1);
  Consumer& c = *(*bus)->FindSubscription("c");
  ASSERT_EQ(FetchAll(c).size(), 1u);              // receive 1
  ASSERT_EQ(FetchAll(c, 10, 1000ms).size(), 1u);  // receive 2 after the timeout
  EXPECT_TRUE(FetchAll(c, 10, 400ms).empty());    // third time: dead-lettered instead
  EXPECT_EQ(c.Stats().dead_lettered, 1u);
  EXPECT_EQ(c.Stats().backlog, 0u);
  auto dead = FetchAll(*(*bus)->FindSubscription("dlq-reader"));
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].message.payload, "{\"id\":7}");
}

TEST(EmbeddedBusTest, RestartResumesEachCursorAndRedeliversOnlyUnacked) {
  TempDir dir;
  {
    auto bus = EmbeddedBus::Open(ThreeSubscriptions(dir.path()));
    PublishN(**bus, 0, 100);
    Consumer& a = *(*bus)->FindSubscription("a");
    auto ds = FetchAll(a);
    // Ack 0..49 and 60..69; leave 50..59 and 70..99 unacked.
    std::vector<Delivery> acked(ds.begin(), ds.begin() + 50);
    acked.insert(acked.end(), ds.begin() + 60, ds.begin() + 70);
    AckAll(a, acked);
    AckAll(*(*bus)->FindSubscription("b"), FetchAll(*(*bus)->FindSubscription("b")));
  }
  auto bus = EmbeddedBus::Open(ThreeSubscriptions(dir.path()));
  ASSERT_TRUE(bus.ok());
  auto a = FetchAll(*(*bus)->FindSubscription("a"));
  std::set<uint64_t> seqs;
  for (auto& d : a) seqs.insert(d.message.seq);
  EXPECT_EQ(seqs.size(), 40u);
  EXPECT_TRUE(seqs.count(51) && seqs.count(60) && seqs.count(71) && seqs.count(100));
  EXPECT_FALSE(seqs.count(50) || seqs.count(61) || seqs.count(70));
  EXPECT_TRUE(FetchAll(*(*bus)->FindSubscription("b")).empty());
  EXPECT_EQ(FetchAll(*(*bus)->FindSubscription("c")).size(), 100u);
}

TEST(EmbeddedBusTest, RetentionDeletesOnlySegmentsEverySubscriptionAcknowledged) {
  TempDir dir;
  auto bus = EmbeddedBus::Open(ThreeSubscriptions(dir.path()));
  for (int i = 0; i < 20; ++i) PublishN(**bus, i * 100, 100);
  auto* topic = (*bus)->FindEmbeddedTopic("events");
  const uint64_t before = topic->log().Stats().segments;
  ASSERT_GT(before, 3u);
  // a and b acknowledge everything, c nothing: nothing may go.
  for (const char* n : {"a", "b"})
    AckAll(*(*bus)->FindSubscription(n), FetchAll(*(*bus)->FindSubscription(n)));
  (*bus)->RunMaintenance(true);
  EXPECT_GE(topic->log().Stats().segments, before);
  EXPECT_EQ(topic->log().first_seq(), 1u);
  // c acknowledges the first 1000: the segments below go, the rest stays.
  auto cs = FetchAll(*(*bus)->FindSubscription("c"));
  AckAll(*(*bus)->FindSubscription("c"), std::vector<Delivery>(cs.begin(), cs.begin() + 1000));
  (*bus)->RunMaintenance(true);
  EXPECT_LT(topic->log().Stats().segments, before);
  EXPECT_GT(topic->log().first_seq(), 1u);
  EXPECT_LE(topic->log().first_seq(), 1001u);
  std::vector<Message> rest;
  ASSERT_TRUE(topic->log().Read(1001, 100000, 1ull << 40, &rest, nullptr).ok());
  EXPECT_EQ(rest.size(), 1000u);
}

std::shared_ptr<const FilterPolicy> BodyPolicy(const char* json) {
  auto p = FilterPolicy::Compile(json, PolicyScope::kMessageBody);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::make_shared<const FilterPolicy>(std::move(p).value());
}

TEST(EmbeddedBusTest, FilterPoliciesDeliverOnlyMatchingEventsAndParseEachEventOnce) {
  TempDir dir;
  auto config = ThreeSubscriptions(dir.path());
  config.subscriptions[0].filter_policy = BodyPolicy(R"({"id": [{"numeric": [">=", 90]}]})");
  config.subscriptions[1].filter_policy = BodyPolicy(R"({"id": [5, 6]})");
  auto bus = EmbeddedBus::Open(config);
  PublishN(**bus, 0, 100);
  auto a = FetchAll(*(*bus)->FindSubscription("a"));
  ASSERT_EQ(a.size(), 10u);
  EXPECT_EQ(a.front().message.payload, "{\"id\":90}");
  auto b = FetchAll(*(*bus)->FindSubscription("b"));
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[1].message.payload, "{\"id\":6}");
  EXPECT_EQ(FetchAll(*(*bus)->FindSubscription("c")).size(), 100u);  // no policy
  // Both policies were evaluated from one parse per event.
  EXPECT_EQ((*bus)->FindEmbeddedTopic("events")->filters()->evaluations(), 100u);
  AckAll(*(*bus)->FindSubscription("a"), a);
  EXPECT_EQ((*bus)->FindSubscription("a")->Stats().backlog, 0u);
}

TEST(EmbeddedBusTest, LongPollReturnsAsSoonAsAnEventIsPublished) {
  TempDir dir;
  auto bus = EmbeddedBus::Open(ThreeSubscriptions(dir.path()));
  std::thread producer([&] {
    std::this_thread::sleep_for(100ms);
    PublishN(**bus, 0, 1);
  });
  auto t0 = std::chrono::steady_clock::now();
  auto ds = FetchAll(*(*bus)->FindSubscription("a"), 10, 5000ms);
  producer.join();
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2000ms);
}

}  // namespace
}  // namespace inlet::bus
