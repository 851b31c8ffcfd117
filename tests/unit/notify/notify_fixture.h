// A real EmbeddedBus on a temporary folder for the notify tests: topics
// "events" and "dlq", subscriptions declared by each test (with compiled
// filter policies), a publisher and the metrics the service reports.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "bus/embedded_bus.h"
#include "bus/filter_policy.h"
#include "notify/notification_service.h"
#include "unit/notify/notify_servers.h"

namespace inlet::notify {

class NotifyFixture : public ::testing::Test {
 protected:
  // A subscription of "events" (policy "" for none), plus "dlq-reader" on "dlq".
  void AddSubscription(const std::string& name, const std::string& policy = "",
                       bus::PolicyScope scope = bus::PolicyScope::kMessageBody) {
    bus::SubscriptionConfig s;
    s.name = name;
    s.topic = "events";
    if (!policy.empty()) {
      auto p = bus::FilterPolicy::Compile(policy, scope);
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      s.filter_policy = std::make_shared<const bus::FilterPolicy>(std::move(p).value());
    }
    subscriptions_.push_back(s);
  }
  void OpenBus() {
    bus::EmbeddedBusConfig c;
    c.log_dir = dir_.path() / "log";
    c.fsync = false;
    c.topics = {bus::TopicConfig{"events", 1 << 20, {}}, bus::TopicConfig{"dlq", 1 << 20, {}}};
    c.subscriptions = subscriptions_;
    bus::SubscriptionConfig d;
    d.name = "dlq-reader";
    d.topic = "dlq";
    c.subscriptions.push_back(d);
    auto b = bus::EmbeddedBus::Open(c);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    bus_ = std::move(b).value();
  }
  void StartService(const NotifyConfig& config) {
    auto s = NotificationService::Create(config, bus_.get(), &metrics_,
                                         {std::chrono::milliseconds(100)});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    service_ = std::move(s).value();
    service_->Start();
  }
  void TearDown() override {
    if (service_) service_->Stop();
    if (bus_) bus_->Close();
  }
  void Publish(const std::vector<std::string>& payloads,
               const std::vector<std::string>& attributes = {}) {
    std::vector<bus::OutgoingEvent> events;
    for (size_t i = 0; i < payloads.size(); ++i) {
      events.push_back({payloads[i], i < attributes.size() ? attributes[i] : "", "", ""});
    }
    auto r = bus_->FindTopic("events")->Publish(std::move(events));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  uint64_t CounterValue(const std::string& name, const std::string& sub, const std::string& kind) {
    return metrics_.GetCounter(name, "", "subscription=\"" + sub + "\",kind=\"" + kind + "\"")
        .value();
  }
  // Payloads on the dead-letter topic (acknowledged as read).
  std::vector<std::string> DeadLetters() {
    bus::Consumer* c = bus_->FindSubscription("dlq-reader");
    auto r = c->Fetch({1000, 8 << 20, std::chrono::milliseconds(0), std::chrono::milliseconds(-1)});
    std::vector<std::string> out;
    if (!r.ok()) return out;
    std::vector<bus::Receipt> receipts;
    for (auto& d : *r) {
      out.push_back(d.message.payload);
      receipts.push_back(d.receipt);
    }
    EXPECT_TRUE(c->Ack(receipts).ok());
    return out;
  }

  inlet::testing::TempDir dir_;
  std::vector<bus::SubscriptionConfig> subscriptions_;
  std::unique_ptr<bus::EmbeddedBus> bus_;
  MetricsRegistry metrics_;
  std::unique_ptr<NotificationService> service_;
};

inline NotificationTarget WebhookTarget(const std::string& sub, const std::string& url) {
  NotificationTarget t;
  t.subscription = sub;
  t.topic = "events";
  t.kind = TargetKind::kWebhook;
  t.webhook.url = url;
  t.webhook.timeout = std::chrono::seconds(5);
  t.webhook.retry = {.num_retries = 3,
                     .min_delay = std::chrono::milliseconds(100),
                     .max_delay = std::chrono::milliseconds(1000),
                     .jitter = 0};
  return t;
}

inline NotificationTarget EmailTarget(const std::string& sub, const std::string& url) {
  NotificationTarget t;
  t.subscription = sub;
  t.topic = "events";
  t.kind = TargetKind::kEmail;
  t.email.url = url;
  t.email.from = "inlet@example.org";
  t.email.to = {"ops@example.org", "oncall@example.org"};
  t.email.max_emails = 0;
  t.email.retry = {.num_retries = 0,
                   .min_delay = std::chrono::milliseconds(200),
                   .max_delay = std::chrono::milliseconds(1000),
                   .jitter = 0};
  return t;
}

}  // namespace inlet::notify
