// EmailWorker: sends the events of one subscription as emails over SMTP, with
// subject and body templates, a digest (events arriving within
// digest_interval go out in one message, the first digest_max_events listed
// in full, the rest counted) and a rate limit (at most max_emails per
// rate_interval; while limited, events gather into the next digest). Events
// are acknowledged once the server accepts the message; a failed send nacks
// them with a backoff delay (email retries until it succeeds). Not
// thread-safe: one thread calls Step/Shutdown.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "notify/curl_client.h"
#include "notify/message_template.h"
#include "notify/notification_worker.h"
#include "notify/notify_metrics.h"
#include "notify/rate_limiter.h"

namespace inlet::notify {

// Events a digest holds (listed or counted) before the worker stops
// fetching; the rest waits on the bus.
inline constexpr size_t kMaxHeldEvents = 100000;

// Parts of one email before encoding.
struct EmailContent {
  std::string from;
  std::vector<std::string> to;
  std::string subject;
  std::string body;        // UTF-8, any line ends
  std::string message_id;  // without <>
  std::vector<std::pair<std::string, std::string>> extra_headers;
};

// RFC 5322 text with CRLF line ends: the subject with CR/LF removed (and
// RFC 2047-encoded when not ASCII), the body quoted-printable.
std::string FormatEmail(const EmailContent& content, int64_t now_unix_s);

// Quoted-printable (RFC 2045) with CRLF line ends and lines of at most 76.
std::string QuotedPrintable(std::string_view text);

class EmailWorker final : public NotificationWorker {
 public:
  // `consumer` must outlive the worker. Parses the templates and reads the
  // credentials now.
  static Result<std::unique_ptr<EmailWorker>> Create(const NotificationTarget& target,
                                                     bus::Consumer* consumer,
                                                     NotifyMetrics metrics);

  void Step(Millis max_wait) override;
  void Shutdown() override;

 private:
  using Clock = std::chrono::steady_clock;
  EmailWorker(const NotificationTarget& target, bus::Consumer* consumer, NotifyMetrics metrics,
              MessageTemplate subject, MessageTemplate body, SmtpOptions smtp);
  // When the held digest may go out (Clock::time_point::max() when empty).
  Clock::time_point DueAt(Clock::time_point now);
  void SendDigest(Clock::time_point now);
  std::vector<bus::Receipt> HeldReceipts() const;
  void ClearHeld();

  const NotificationTarget target_;
  const EmailConfig& config_;
  bus::Consumer* const consumer_;
  NotifyMetrics metrics_;
  const MessageTemplate subject_;
  const MessageTemplate body_;
  SmtpClient smtp_;
  RateLimiter limiter_;
  std::vector<bus::Delivery> listed_;
  std::vector<bus::Receipt> unlisted_;
  Clock::time_point first_at_;
  uint32_t failures_ = 0;       // consecutive failed sends, for the backoff
  Clock::time_point retry_at_;  // no send before this after a failure
  uint64_t sent_ = 0;
};

}  // namespace inlet::notify
