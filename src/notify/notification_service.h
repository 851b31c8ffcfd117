// NotificationService: runs the webhook and email subscriptions of a
// configuration, one worker thread per subscription, each consuming its bus
// subscription (fetch, send, ack; nack with a delay on failure), so delivery
// is at least once and survives restarts. Borrows the bus and the metrics
// registry (both must outlive the service). Start/Stop from one thread.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "bus/bus.h"
#include "common/metrics.h"
#include "common/status.h"
#include "notify/notification_worker.h"
#include "notify/notify_config.h"

namespace inlet::notify {

struct NotificationServiceOptions {
  Millis poll_wait{250};  // long-poll wait of one fetch; bounds how long Stop takes
};

class NotificationService {
 public:
  // Builds a worker per target: finds its subscription and dead-letter topic
  // on `bus`, parses templates, reads secrets from the environment or files.
  // Fails (nothing started) when any of them is missing. `metrics` may be
  // null (then the service keeps a registry of its own).
  static Result<std::unique_ptr<NotificationService>> Create(
      const NotifyConfig& config, bus::Bus* bus, MetricsRegistry* metrics,
      NotificationServiceOptions options = {});
  ~NotificationService();  // Stop()

  void Start();
  // Stops the threads and returns events held for batches and digests to the
  // bus. Idempotent.
  void Stop();

  size_t workers() const { return workers_.size(); }
  MetricsRegistry* metrics() const { return metrics_; }

 private:
  NotificationService() = default;

  NotificationServiceOptions options_;
  std::unique_ptr<MetricsRegistry> own_metrics_;
  MetricsRegistry* metrics_ = nullptr;
  std::vector<std::unique_ptr<NotificationWorker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
};

}  // namespace inlet::notify
