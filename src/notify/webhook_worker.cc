#include "notify/webhook_worker.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>

#include "notify/message_template.h"
#include "notify/retry_policy.h"
#include "notify/secret_source.h"
#include "notify/webhook_signature.h"

namespace inlet::notify {
namespace {

void AppendJsonString(std::string* out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  *out += '"';
  for (unsigned char ch : s) {
    switch (ch) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (ch < 0x20) {
          *out += "\\u00";
          *out += kHex[ch >> 4];
          *out += kHex[ch & 0xf];
        } else {
          *out += static_cast<char>(ch);
        }
    }
  }
  *out += '"';
}

bool IsJsonObject(simdjson::dom::parser& parser, const std::string& text) {
  simdjson::dom::element e;
  return parser.parse(text).get(e) == simdjson::SUCCESS && e.is_object();
}

// An HTTP status that no retry can fix: a client error other than timeout,
// conflict and throttling.
bool IsPermanent(long status) {
  return status >= 400 && status < 500 && status != 408 && status != 409 && status != 429;
}

// One element of "events".
std::string EventJson(simdjson::dom::parser& parser, const bus::Delivery& d) {
  const bus::Message& m = d.message;
  std::string out = "{\"seq\":" + std::to_string(m.seq) + ",\"arrival\":\"" +
                    FormatRfc3339(m.arrival_us) +
                    "\",\"attempt\":" + std::to_string(d.receipt.attempt);
  if (!m.attributes.empty() && IsJsonObject(parser, m.attributes))
    out += ",\"attributes\":" + m.attributes;
  if (IsJsonObject(parser, m.payload)) {
    out += ",\"event\":" + m.payload;
  } else {
    out += ",\"event_raw\":";
    AppendJsonString(&out, m.payload);
  }
  out += '}';
  return out;
}

std::string BodyHead(const std::string& subscription, const std::string& topic) {
  std::string out = "{\"subscription\":";
  AppendJsonString(&out, subscription);
  out += ",\"topic\":";
  AppendJsonString(&out, topic);
  out += ",\"events\":[";
  return out;
}

}  // namespace

std::string WebhookBody(const std::string& subscription, const std::string& topic,
                        const std::vector<bus::Delivery>& batch) {
  simdjson::dom::parser parser;
  std::string out = BodyHead(subscription, topic);
  for (size_t i = 0; i < batch.size(); ++i) {
    if (i) out += ',';
    out += EventJson(parser, batch[i]);
  }
  out += "]}";
  return out;
}

Result<std::unique_ptr<WebhookWorker>> WebhookWorker::Create(const NotificationTarget& target,
                                                             bus::Consumer* consumer,
                                                             bus::Topic* dead_letter,
                                                             NotifyMetrics metrics) {
  if (consumer == nullptr)
    return Status::InvalidArgument("webhook " + target.subscription + ": no consumer");
  std::string secret;
  if (!target.webhook.secret.empty()) {
    auto s =
        ReadSecret(target.webhook.secret, "webhook secret of subscription " + target.subscription);
    if (!s.ok()) return s.status();
    secret = std::move(s).value();
  }
  if (!target.webhook.dead_letter_topic.empty() && dead_letter == nullptr) {
    return Status::NotFound("webhook " + target.subscription + ": no dead-letter topic " +
                            target.webhook.dead_letter_topic);
  }
  return std::unique_ptr<WebhookWorker>(
      new WebhookWorker(target, consumer, dead_letter, metrics, std::move(secret)));
}

WebhookWorker::WebhookWorker(const NotificationTarget& target, bus::Consumer* consumer,
                             bus::Topic* dead_letter, NotifyMetrics metrics, std::string secret)
    : target_(target),
      config_(target_.webhook),
      consumer_(consumer),
      dead_letter_(dead_letter),
      metrics_(metrics),
      secret_(std::move(secret)) {}

void WebhookWorker::Step(Millis max_wait) {
  const auto now = Clock::now();
  const bool full = buffer_.size() >= config_.batch_size;
  const bool window_over = !buffer_.empty() && now >= first_at_ + config_.batch_window;
  if (!full && !window_over) {
    bus::FetchOptions options;
    options.max_messages = config_.batch_size - buffer_.size();
    options.wait = max_wait;
    if (!buffer_.empty()) {
      options.wait = std::min(
          max_wait, std::chrono::duration_cast<Millis>(first_at_ + config_.batch_window - now));
    }
    // Held events must stay invisible to other fetches while they wait for
    // the batch and the request (with retries handled by the bus).
    options.visibility_timeout =
        config_.batch_window + config_.timeout + config_.connect_timeout + Millis(30000);
    auto fetched = consumer_->Fetch(options);
    if (!fetched.ok()) {
      spdlog::warn("notify {}: fetch failed: {}", target_.subscription,
                   fetched.status().ToString());
      return;
    }
    if (buffer_.empty() && !fetched->empty()) first_at_ = Clock::now();
    for (auto& d : *fetched) buffer_.push_back(std::move(d));
  }
  if (buffer_.empty()) return;
  if (buffer_.size() >= config_.batch_size || Clock::now() >= first_at_ + config_.batch_window)
    SendBatch();
}

void WebhookWorker::SendBatch() {
  // The longest prefix of the buffer whose body fits max_body_bytes (at least one event).
  simdjson::dom::parser parser;
  std::string body = BodyHead(target_.subscription, target_.topic);
  size_t taken = 0;
  for (const auto& d : buffer_) {
    std::string e = EventJson(parser, d);
    if (taken > 0 && body.size() + e.size() + 3 > config_.max_body_bytes) break;
    if (taken > 0) body += ',';
    body += e;
    ++taken;
  }
  body += "]}";
  std::vector<bus::Delivery> batch(
      std::make_move_iterator(buffer_.begin()),
      std::make_move_iterator(buffer_.begin() + static_cast<ptrdiff_t>(taken)));
  buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(taken));
  if (!buffer_.empty()) first_at_ = Clock::now() - config_.batch_window;  // the rest is due too

  uint32_t attempt = 0;
  for (const auto& d : batch) attempt = std::max(attempt, d.receipt.attempt);
  const int64_t timestamp = static_cast<int64_t>(std::time(nullptr));
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", "application/json"},
      {kTimestampHeader, std::to_string(timestamp)},
      {"X-Inlet-Subscription", target_.subscription},
      {"X-Inlet-Attempt", std::to_string(attempt)},
      {"X-Inlet-Event-Count", std::to_string(batch.size())},
  };
  if (!secret_.empty())
    headers.emplace_back(kSignatureHeader, SignWebhook(secret_, timestamp, body));
  for (const auto& h : config_.headers) headers.push_back(h);

  const auto started = Clock::now();
  auto reply = http_.Post(config_.url, body, headers, config_.timeout, config_.connect_timeout);
  metrics_.latency->Observe(std::chrono::duration<double>(Clock::now() - started).count());
  std::vector<bus::Receipt> receipts;
  for (const auto& d : batch) receipts.push_back(d.receipt);
  if (reply.ok() && reply->status >= 200 && reply->status < 300) {
    Status st = consumer_->Ack(receipts);
    if (!st.ok()) spdlog::warn("notify {}: ack failed: {}", target_.subscription, st.ToString());
    metrics_.delivered->Inc(batch.size());
    return;
  }
  metrics_.failed_attempts->Inc();
  std::string reason =
      reply.ok() ? "HTTP " + std::to_string(reply->status) + " " + reply->body.substr(0, 200)
                 : reply.status().message();
  if (reply.ok() && IsPermanent(reply->status)) {
    spdlog::warn("notify {}: {} (not retried)", target_.subscription, reason);
    GiveUp(batch, reason);
    return;
  }
  std::vector<bus::Delivery> exhausted;
  for (const auto& d : batch) {
    if (d.receipt.attempt > config_.retry.num_retries) {
      exhausted.push_back(d);
      continue;
    }
    bus::Receipt r = d.receipt;
    Status st = consumer_->Nack({&r, 1}, RetryDelay(config_.retry, d.receipt.attempt));
    if (!st.ok()) spdlog::warn("notify {}: nack failed: {}", target_.subscription, st.ToString());
    metrics_.retries->Inc();
  }
  spdlog::info("notify {}: attempt {} failed: {}", target_.subscription, attempt, reason);
  if (!exhausted.empty()) GiveUp(exhausted, reason);
}

void WebhookWorker::GiveUp(const std::vector<bus::Delivery>& events, const std::string& reason) {
  std::vector<bus::Receipt> receipts;
  for (const auto& d : events) receipts.push_back(d.receipt);
  if (dead_letter_ != nullptr) {
    std::vector<bus::OutgoingEvent> out;
    for (const auto& d : events) {
      out.push_back({d.message.payload, d.message.attributes, d.message.key_id,
                     "notify:" + target_.subscription + ":" + std::to_string(d.message.seq)});
    }
    auto published = dead_letter_->Publish(std::move(out));
    if (!published.ok()) {
      // Not acknowledged: the events come back and are given up again.
      spdlog::warn("notify {}: dead-letter publish failed: {}", target_.subscription,
                   published.status().ToString());
      Status st = consumer_->Nack(receipts, config_.retry.max_delay);
      (void)st;
      return;
    }
    metrics_.dead_lettered->Inc(events.size());
    spdlog::warn("notify {}: {} event(s) moved to dead-letter topic {} after: {}",
                 target_.subscription, events.size(), config_.dead_letter_topic, reason);
  } else {
    metrics_.dropped->Inc(events.size());
    spdlog::error("notify {}: {} event(s) dropped (no dead_letter_topic) after: {}",
                  target_.subscription, events.size(), reason);
  }
  Status st = consumer_->Ack(receipts);
  if (!st.ok()) spdlog::warn("notify {}: ack failed: {}", target_.subscription, st.ToString());
}

void WebhookWorker::Shutdown() {
  if (buffer_.empty()) return;
  std::vector<bus::Receipt> receipts;
  for (const auto& d : buffer_) receipts.push_back(d.receipt);
  Status st = consumer_->Nack(receipts, Millis(0));
  (void)st;
  buffer_.clear();
}

}  // namespace inlet::notify
