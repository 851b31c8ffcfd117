// The metrics of one notification subscription, registered in the shared
// MetricsRegistry with labels subscription="..",kind="webhook|email". The
// registry owns them; the pointers stay valid as long as it lives.
// Updates are lock-free and thread-safe.
#pragma once

#include <string>

#include "common/metrics.h"

namespace inlet::notify {

struct NotifyMetrics {
  Counter* delivered = nullptr;        // events the target accepted
  Counter* failed_attempts = nullptr;  // requests or emails that failed
  Counter* retries = nullptr;          // events put back for another attempt
  Counter* dead_lettered = nullptr;    // events given up and published to the dead-letter topic
  Counter* dropped = nullptr;          // events given up with no dead-letter topic
  Counter* emails_sent = nullptr;
  Counter* digest_unlisted = nullptr;  // events counted in a digest but not listed in it
  Histogram* digest_events = nullptr;  // events per email
  Histogram* latency = nullptr;        // seconds per request or email

  static NotifyMetrics Register(MetricsRegistry* registry, const std::string& subscription,
                                const std::string& kind);
};

}  // namespace inlet::notify
