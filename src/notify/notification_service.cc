#include "notify/notification_service.h"

#include <spdlog/spdlog.h>

#include "common/thread_name.h"
#include "notify/email_worker.h"
#include "notify/webhook_worker.h"

namespace inlet::notify {

Result<std::unique_ptr<NotificationService>> NotificationService::Create(
    const NotifyConfig& config, bus::Bus* bus, MetricsRegistry* metrics,
    NotificationServiceOptions options) {
  std::unique_ptr<NotificationService> s(new NotificationService());
  s->options_ = options;
  if (metrics == nullptr) {
    s->own_metrics_ = std::make_unique<MetricsRegistry>();
    metrics = s->own_metrics_.get();
  }
  s->metrics_ = metrics;
  for (const NotificationTarget& target : config.targets) {
    bus::Consumer* consumer = bus->FindSubscription(target.subscription);
    if (consumer == nullptr) {
      return Status::NotFound("notification target: no subscription " + target.subscription +
                              " on the bus");
    }
    if (target.kind == TargetKind::kWebhook) {
      bus::Topic* dlq = nullptr;
      if (!target.webhook.dead_letter_topic.empty()) {
        dlq = bus->FindTopic(target.webhook.dead_letter_topic);
        if (dlq == nullptr) {
          return Status::NotFound("webhook " + target.subscription + ": no dead-letter topic " +
                                  target.webhook.dead_letter_topic + " on the bus");
        }
      }
      auto w = WebhookWorker::Create(
          target, consumer, dlq, NotifyMetrics::Register(metrics, target.subscription, "webhook"));
      if (!w.ok()) return w.status();
      s->workers_.push_back(std::move(w).value());
    } else {
      auto w = EmailWorker::Create(target, consumer,
                                   NotifyMetrics::Register(metrics, target.subscription, "email"));
      if (!w.ok()) return w.status();
      s->workers_.push_back(std::move(w).value());
    }
  }
  return s;
}

NotificationService::~NotificationService() { Stop(); }

void NotificationService::Start() {
  if (!threads_.empty()) return;
  stop_ = false;
  for (auto& worker : workers_) {
    NotificationWorker* w = worker.get();
    threads_.emplace_back([this, w, n = threads_.size()] {
      SetThreadName("notify-" + std::to_string(n));
      while (!stop_.load(std::memory_order_relaxed)) w->Step(options_.poll_wait);
      w->Shutdown();
    });
  }
  if (!workers_.empty())
    spdlog::info("notify: {} notification subscription(s) running", workers_.size());
}

void NotificationService::Stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

}  // namespace inlet::notify
