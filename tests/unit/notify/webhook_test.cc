// Webhook notifications against a real HTTP receiver on loopback
// (tests/support/webhook_receiver.py) and a real EmbeddedBus.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdlib>
#include <set>

#include "notify/webhook_signature.h"
#include "unit/notify/notify_fixture.h"

namespace inlet::notify {
namespace {
using namespace std::chrono_literals;
using inlet::testing::WaitUntil;
using inlet::testing::WebhookReceiver;

std::vector<int64_t> EventIds(const std::string& body) {
  simdjson::dom::parser p;
  std::vector<int64_t> ids;
  simdjson::dom::element root;
  if (p.parse(body).get(root) != simdjson::SUCCESS) return ids;
  for (auto e : simdjson::dom::array(root["events"])) ids.push_back(int64_t(e["event"]["id"]));
  return ids;
}

class WebhookTest : public NotifyFixture {};

TEST_F(WebhookTest, RetriesWithExponentialBackoffThenSucceeds) {
  WebhookReceiver receiver(dir_.path() / "hook", /*fail_first=*/2);
  ASSERT_TRUE(receiver.ready()) << receiver.Log();
  AddSubscription("hooks");
  OpenBus();
  NotifyConfig config{{WebhookTarget("hooks", receiver.url())}};
  StartService(config);
  Publish({R"({"id":7,"msg":"hello"})"});

  ASSERT_TRUE(receiver.WaitForRequests(3)) << receiver.Log();
  ASSERT_TRUE(WaitUntil([&] { return bus_->FindSubscription("hooks")->Stats().backlog == 0; }));
  std::this_thread::sleep_for(300ms);  // no further attempt once accepted
  auto reqs = receiver.Requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].status, 500);
  EXPECT_EQ(reqs[1].status, 500);
  EXPECT_EQ(reqs[2].status, 200);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(EventIds(reqs[i].body), std::vector<int64_t>{7});
    EXPECT_EQ(reqs[i].Header("x-inlet-attempt"), std::to_string(i + 1));
    EXPECT_EQ(reqs[i].Header("content-type"), "application/json");
  }
  // min_delay 100ms, doubling: at least 100ms then 200ms between attempts.
  EXPECT_GE(reqs[1].time - reqs[0].time, 0.095);
  EXPECT_GE(reqs[2].time - reqs[1].time, 0.195);
  EXPECT_EQ(CounterValue("inlet_notify_delivered_events_total", "hooks", "webhook"), 1u);
  EXPECT_EQ(CounterValue("inlet_notify_failed_attempts_total", "hooks", "webhook"), 2u);
  EXPECT_EQ(CounterValue("inlet_notify_retries_total", "hooks", "webhook"), 2u);
  EXPECT_EQ(CounterValue("inlet_notify_dead_lettered_events_total", "hooks", "webhook"), 0u);
  EXPECT_TRUE(DeadLetters().empty());
}

TEST_F(WebhookTest, ReceiverCanVerifyTheSignature) {
  const std::string secret = "correct horse battery staple";
  ::setenv("INLET_TEST_WEBHOOK_SECRET", secret.c_str(), 1);
  WebhookReceiver receiver(dir_.path() / "hook", 0, 500, secret);
  WebhookReceiver wrong(dir_.path() / "wrong", 0, 500, "another secret");
  ASSERT_TRUE(receiver.ready() && wrong.ready());
  AddSubscription("signed");
  AddSubscription("signed-wrong");
  OpenBus();
  NotifyConfig config{
      {WebhookTarget("signed", receiver.url()), WebhookTarget("signed-wrong", wrong.url())}};
  for (auto& t : config.targets) t.webhook.secret.env = "INLET_TEST_WEBHOOK_SECRET";
  StartService(config);
  Publish({R"({"id":1})", R"({"id":2})"});
  ASSERT_TRUE(receiver.WaitForRequests(2));
  ASSERT_TRUE(wrong.WaitForRequests(2));
  for (const auto& r : receiver.Requests()) {
    EXPECT_EQ(r.signature_valid, 1) << r.Header("x-inlet-signature");  // checked by Python's hmac
    EXPECT_TRUE(VerifyWebhook(secret, std::stoll(r.Header("x-inlet-timestamp")), r.body,
                              r.Header("x-inlet-signature")));
    EXPECT_NEAR(std::stoll(r.Header("x-inlet-timestamp")), std::time(nullptr), 60);
  }
  for (const auto& r : wrong.Requests()) EXPECT_EQ(r.signature_valid, 0);
}

TEST_F(WebhookTest, MissingSecretFailsAtStartup) {
  AddSubscription("signed");
  OpenBus();
  NotifyConfig config{{WebhookTarget("signed", "http://127.0.0.1:9/")}};
  ::unsetenv("INLET_TEST_UNSET_SECRET");
  config.targets[0].webhook.secret.env = "INLET_TEST_UNSET_SECRET";
  auto s = NotificationService::Create(config, bus_.get(), &metrics_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("INLET_TEST_UNSET_SECRET"), std::string::npos);
}

TEST_F(WebhookTest, DeadLettersAfterTheLastRetry) {
  WebhookReceiver receiver(dir_.path() / "hook", /*fail_first=*/1000000, 503);
  ASSERT_TRUE(receiver.ready());
  AddSubscription("hooks");
  OpenBus();
  NotifyConfig config{{WebhookTarget("hooks", receiver.url())}};
  config.targets[0].webhook.retry = {
      .num_retries = 2, .min_delay = 50ms, .max_delay = 100ms, .jitter = 0.2};
  config.targets[0].webhook.dead_letter_topic = "dlq";
  StartService(config);
  Publish({R"({"id":1})", R"({"id":2})"});

  std::vector<std::string> dead;
  ASSERT_TRUE(WaitUntil([&] {
    for (auto& d : DeadLetters()) dead.push_back(d);
    return dead.size() >= 2;
  })) << dead.size();
  EXPECT_EQ(std::set<std::string>(dead.begin(), dead.end()),
            (std::set<std::string>{R"({"id":1})", R"({"id":2})"}));
  EXPECT_EQ(receiver.Requests().size(), 6u);  // 1 attempt + 2 retries, per event
  ASSERT_TRUE(WaitUntil([&] { return bus_->FindSubscription("hooks")->Stats().backlog == 0; }));
  EXPECT_EQ(CounterValue("inlet_notify_dead_lettered_events_total", "hooks", "webhook"), 2u);
  EXPECT_EQ(CounterValue("inlet_notify_delivered_events_total", "hooks", "webhook"), 0u);
}

TEST_F(WebhookTest, ClientErrorIsNotRetried) {
  WebhookReceiver receiver(dir_.path() / "hook", 1000000, 400);
  ASSERT_TRUE(receiver.ready());
  AddSubscription("hooks");
  OpenBus();
  NotifyConfig config{{WebhookTarget("hooks", receiver.url())}};
  config.targets[0].webhook.dead_letter_topic = "dlq";
  StartService(config);
  Publish({R"({"id":1})"});
  std::vector<std::string> dead;
  ASSERT_TRUE(WaitUntil([&] {
    for (auto& d : DeadLetters()) dead.push_back(d);
    return !dead.empty();
  }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(receiver.Requests().size(), 1u);
}

TEST_F(WebhookTest, BatchesEventsInOrder) {
  WebhookReceiver receiver(dir_.path() / "hook", 0);
  ASSERT_TRUE(receiver.ready());
  AddSubscription("hooks");
  OpenBus();
  NotifyConfig config{{WebhookTarget("hooks", receiver.url())}};
  config.targets[0].webhook.batch_size = 5;
  config.targets[0].webhook.batch_window = 300ms;
  StartService(config);
  std::vector<std::string> payloads;
  for (int i = 1; i <= 12; ++i) payloads.push_back("{\"id\":" + std::to_string(i) + "}");
  Publish(payloads);
  ASSERT_TRUE(WaitUntil([&] {
    return CounterValue("inlet_notify_delivered_events_total", "hooks", "webhook") == 12;
  }));
  std::vector<int64_t> all;
  std::vector<size_t> sizes;
  for (const auto& r : receiver.Requests()) {
    auto ids = EventIds(r.body);
    sizes.push_back(ids.size());
    EXPECT_EQ(r.Header("x-inlet-event-count"), std::to_string(ids.size()));
    all.insert(all.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{5, 5, 2}));
  std::vector<int64_t> expected;
  for (int i = 1; i <= 12; ++i) expected.push_back(i);
  EXPECT_EQ(all, expected);
}

TEST_F(WebhookTest, UndeliveredEventsSurviveARestart) {
  AddSubscription("hooks");
  OpenBus();
  {
    WebhookReceiver down(dir_.path() / "down", 1000000, 503);
    ASSERT_TRUE(down.ready());
    NotifyConfig config{{WebhookTarget("hooks", down.url())}};
    config.targets[0].webhook.retry.num_retries = 100;
    StartService(config);
    Publish({R"({"id":1})", R"({"id":2})"});
    ASSERT_TRUE(down.WaitForRequests(2));
    service_->Stop();
    service_.reset();
  }
  bus_->Close();
  bus_.reset();
  OpenBus();  // the same log folder: cursors recovered
  WebhookReceiver up(dir_.path() / "up", 0);
  ASSERT_TRUE(up.ready());
  StartService(NotifyConfig{{WebhookTarget("hooks", up.url())}});
  ASSERT_TRUE(WaitUntil([&] {
    return CounterValue("inlet_notify_delivered_events_total", "hooks", "webhook") == 2;
  }));
  std::set<int64_t> ids;
  for (const auto& r : up.Requests()) {
    for (auto id : EventIds(r.body)) ids.insert(id);
  }
  EXPECT_EQ(ids, (std::set<int64_t>{1, 2}));
}

}  // namespace
}  // namespace inlet::notify
