// WebhookWorker: POSTs the events of one subscription as JSON batches to a
// URL, signed with HMAC-SHA256 when a secret is configured. A failed attempt
// nacks the events with an exponential backoff delay; after the last retry
// they are published to the dead-letter topic and acknowledged. The attempt
// count is the bus's receive count, so retries survive a restart of the
// worker (they start again from 1 after a restart of the embedded bus).
// Not thread-safe: one thread calls Step/Shutdown.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "notify/curl_client.h"
#include "notify/notification_worker.h"
#include "notify/notify_metrics.h"

namespace inlet::notify {

// The request body for a batch:
// {"subscription":"..","topic":"..","events":[{"seq":N,"arrival":"RFC 3339",
//  "attempt":N,"attributes":{..},"event":{..payload..}}, ...]}
// A payload that is not valid JSON goes as a string under "event_raw".
std::string WebhookBody(const std::string& subscription, const std::string& topic,
                        const std::vector<bus::Delivery>& batch);

class WebhookWorker final : public NotificationWorker {
 public:
  // `consumer` and `dead_letter` (null when none is configured) must outlive
  // the worker. Reads the secret now: fails when it is configured but unset.
  static Result<std::unique_ptr<WebhookWorker>> Create(const NotificationTarget& target,
                                                       bus::Consumer* consumer,
                                                       bus::Topic* dead_letter,
                                                       NotifyMetrics metrics);

  void Step(Millis max_wait) override;
  void Shutdown() override;

 private:
  using Clock = std::chrono::steady_clock;
  WebhookWorker(const NotificationTarget& target, bus::Consumer* consumer, bus::Topic* dead_letter,
                NotifyMetrics metrics, std::string secret);
  // Sends the first events of buffer_ (as many as fit the body limit).
  void SendBatch();
  void GiveUp(const std::vector<bus::Delivery>& events, const std::string& reason);

  const NotificationTarget target_;
  const WebhookConfig& config_;
  bus::Consumer* const consumer_;
  bus::Topic* const dead_letter_;
  NotifyMetrics metrics_;
  const std::string secret_;
  HttpPoster http_;
  std::vector<bus::Delivery> buffer_;
  Clock::time_point first_at_;
};

}  // namespace inlet::notify
