#include "notify/notify_metrics.h"

namespace inlet::notify {

NotifyMetrics NotifyMetrics::Register(MetricsRegistry* r, const std::string& subscription,
                                      const std::string& kind) {
  const std::string labels = "subscription=\"" + subscription + "\",kind=\"" + kind + "\"";
  NotifyMetrics m;
  m.delivered = &r->GetCounter("inlet_notify_delivered_events_total",
                               "Events accepted by the notification target", labels);
  m.failed_attempts = &r->GetCounter("inlet_notify_failed_attempts_total",
                                     "Notification requests or emails that failed", labels);
  m.retries = &r->GetCounter("inlet_notify_retries_total",
                             "Events put back on the bus for another attempt", labels);
  m.dead_lettered = &r->GetCounter(
      "inlet_notify_dead_lettered_events_total",
      "Events given up after the last retry and published to the dead-letter topic", labels);
  m.dropped =
      &r->GetCounter("inlet_notify_dropped_events_total",
                     "Events given up after the last retry with no dead-letter topic", labels);
  m.emails_sent = &r->GetCounter("inlet_notify_emails_sent_total",
                                 "Emails accepted by the SMTP server", labels);
  m.digest_unlisted =
      &r->GetCounter("inlet_notify_digest_unlisted_events_total",
                     "Events counted in a digest email but not listed in it", labels);
  m.digest_events = &r->GetHistogram("inlet_notify_digest_events", "Events per notification email",
                                     labels, {1, 2, 5, 10, 20, 50, 100, 1000, 10000});
  m.latency = &r->GetHistogram("inlet_notify_request_seconds",
                               "Duration of one webhook request or email", labels);
  return m;
}

}  // namespace inlet::notify
