// Settings of notification subscriptions (webhook and email), filled by the
// configuration loader (config/notify_section.cc) and read by
// NotificationService (notify/notification_service.h). Plain values; see
// docs/notifications.md for the YAML keys and their defaults.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace inlet::notify {

using Millis = std::chrono::milliseconds;

// Limits the configuration enforces.
inline constexpr uint32_t kMaxBatchSize = 1000;
inline constexpr uint32_t kMaxRetries = 100;
inline constexpr uint32_t kMaxDigestEvents = 10000;
inline constexpr size_t kMaxRecipients = 100;

// Where a secret comes from: an environment variable or a file (one of the
// two; the file's content without a trailing newline).
struct SecretSource {
  std::string env;
  std::string file;
  bool empty() const { return env.empty() && file.empty(); }
};

// SNS-like retry policy: attempt n (from 1) that fails waits
// min(max_delay, min_delay * 2^(n-1)) with jitter before attempt n+1;
// after num_retries retries (num_retries + 1 attempts) the event is given up.
struct RetryPolicy {
  uint32_t num_retries = 3;
  Millis min_delay{1000};
  Millis max_delay{60000};
  double jitter = 0.2;  // the delay is drawn from [d * (1 - jitter), d]
};

struct WebhookConfig {
  std::string url;       // http:// or https://
  Millis timeout{5000};  // whole request
  Millis connect_timeout{2000};
  RetryPolicy retry;
  SecretSource secret;            // HMAC-SHA256 key; no signature when empty
  uint32_t batch_size = 1;        // events per POST
  Millis batch_window{0};         // wait this long for a batch to fill
  std::string dead_letter_topic;  // given-up events are published here ("" drops them)
  std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
  uint64_t max_body_bytes = 1 << 20;  // a batch is cut before it grows past this
};

struct EmailConfig {
  std::string url;                    // smtp://host:port or smtps://host:port
  bool starttls = false;              // require STARTTLS on smtp://
  bool insecure_skip_verify = false;  // do not verify the server certificate (tests only)
  SecretSource username;
  SecretSource password;
  std::string from;
  std::vector<std::string> to;
  std::string subject = "[inlet] {{@count}} event(s) on {{@subscription}}";
  std::string body = "{{@event}}";
  Millis timeout{30000};
  RetryPolicy retry{.num_retries = 0, .min_delay = Millis(5000), .max_delay = Millis(300000)};
  // Digest: events that arrive within digest_interval of the first one go
  // out in one message, at most digest_max_events of them listed in full
  // (the others are counted). 0: one message per event (unless rate limited).
  Millis digest_interval{0};
  uint32_t digest_max_events = 100;
  // Rate limit: at most max_emails messages per rate_interval; while limited,
  // events gather into the next digest. 0: unlimited.
  uint32_t max_emails = 60;
  Millis rate_interval{3600000};
};

enum class TargetKind { kWebhook, kEmail };

// The notification target of one subscription.
struct NotificationTarget {
  std::string subscription;
  std::string topic;  // the subscription's topic (for the payload and templates)
  TargetKind kind = TargetKind::kWebhook;
  WebhookConfig webhook;
  EmailConfig email;
};

struct NotifyConfig {
  std::vector<NotificationTarget> targets;
};

}  // namespace inlet::notify
