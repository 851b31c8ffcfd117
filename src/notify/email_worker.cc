#include "notify/email_worker.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <random>
#include <thread>

#include "notify/retry_policy.h"
#include "notify/secret_source.h"

namespace inlet::notify {
namespace {

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string Base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// A header value on one line: CR, LF and other controls become spaces.
std::string OneLine(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

// RFC 2047 encoded words of at most 45 input bytes each, cut at UTF-8
// character boundaries, folded onto continuation lines.
std::string EncodeHeaderWords(std::string_view s) {
  std::string out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = std::min(s.size(), pos + 45);
    while (end < s.size() && end > pos + 1 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80)
      --end;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + Base64(s.substr(pos, end - pos)) + "?=";
    pos = end;
  }
  return out;
}

std::string RandomHex(size_t n) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) out += kHex[rng() & 0xf];
  return out;
}

}  // namespace

std::string QuotedPrintable(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  size_t line = 0;  // characters on the current output line
  auto put = [&](std::string_view piece) {
    if (line + piece.size() > 75) {  // leave room for the soft break '='
      out += "=\r\n";
      line = 0;
    }
    out += piece;
    line += piece.size();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')
      continue;  // the '\n' ends the line
    if (c == '\n') {
      out += "\r\n";
      line = 0;
      continue;
    }
    bool at_line_end = i + 1 == text.size() || text[i + 1] == '\n' || text[i + 1] == '\r';
    if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_line_end)) {
      // A '.' alone at the start of a line is fine: libcurl dot-stuffs SMTP data.
      char ch = static_cast<char>(c);
      put(std::string_view(&ch, 1));
    } else {
      char enc[3] = {'=', kHex[c >> 4], kHex[c & 0xf]};
      put(std::string_view(enc, 3));
    }
  }
  return out;
}

std::string FormatEmail(const EmailContent& c, int64_t now_unix_s) {
  char date[64];
  time_t t = static_cast<time_t>(now_unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
  std::string to;
  for (const auto& a : c.to) to += (to.empty() ? "" : ", ") + a;
  std::string subject = OneLine(c.subject);
  std::string out;
  out += "Date: " + std::string(date) + "\r\n";
  out += "From: " + c.from + "\r\n";
  out += "To: " + to + "\r\n";
  out += "Subject: " + (IsAscii(subject) ? subject : EncodeHeaderWords(subject)) + "\r\n";
  out += "Message-ID: <" + c.message_id + ">\r\n";
  for (const auto& [k, v] : c.extra_headers) out += k + ": " + OneLine(v) + "\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Transfer-Encoding: quoted-printable\r\n";
  out += "\r\n";
  out += QuotedPrintable(c.body);
  out += "\r\n";
  return out;
}

Result<std::unique_ptr<EmailWorker>> EmailWorker::Create(const NotificationTarget& target,
                                                         bus::Consumer* consumer,
                                                         NotifyMetrics metrics) {
  const EmailConfig& e = target.email;
  if (consumer == nullptr)
    return Status::InvalidArgument("email " + target.subscription + ": no consumer");
  auto subject = MessageTemplate::Parse(e.subject);
  if (!subject.ok())
    return Status::InvalidArgument("email " + target.subscription + ": subject " +
                                   subject.status().message());
  auto body = MessageTemplate::Parse(e.body);
  if (!body.ok())
    return Status::InvalidArgument("email " + target.subscription + ": body " +
                                   body.status().message());
  SmtpOptions smtp;
  smtp.url = e.url;
  smtp.starttls = e.starttls;
  smtp.insecure_skip_verify = e.insecure_skip_verify;
  smtp.timeout = e.timeout;
  if (!e.username.empty()) {
    auto u = ReadSecret(e.username, "SMTP username of subscription " + target.subscription);
    if (!u.ok()) return u.status();
    smtp.username = std::move(u).value();
  }
  if (!e.password.empty()) {
    auto p = ReadSecret(e.password, "SMTP password of subscription " + target.subscription);
    if (!p.ok()) return p.status();
    smtp.password = std::move(p).value();
  }
  return std::unique_ptr<EmailWorker>(new EmailWorker(target, consumer, metrics,
                                                      std::move(subject).value(),
                                                      std::move(body).value(), std::move(smtp)));
}

EmailWorker::EmailWorker(const NotificationTarget& target, bus::Consumer* consumer,
                         NotifyMetrics metrics, MessageTemplate subject, MessageTemplate body,
                         SmtpOptions smtp)
    : target_(target),
      config_(target_.email),
      consumer_(consumer),
      metrics_(metrics),
      subject_(std::move(subject)),
      body_(std::move(body)),
      smtp_(std::move(smtp)),
      limiter_(config_.max_emails, config_.rate_interval) {}

EmailWorker::Clock::time_point EmailWorker::DueAt(Clock::time_point now) {
  if (listed_.empty()) return Clock::time_point::max();
  return std::max({first_at_ + config_.digest_interval, limiter_.NextAllowed(now), retry_at_});
}

void EmailWorker::Step(Millis max_wait) {
  auto now = Clock::now();
  if (now >= DueAt(now)) return SendDigest(now);
  const size_t held = listed_.size() + unlisted_.size();
  if (held >= kMaxHeldEvents) {
    // Full: wait for the digest to become due without fetching more.
    auto wait = std::min<Clock::duration>(max_wait, DueAt(now) - now);
    std::this_thread::sleep_for(wait);
    return;
  }
  bus::FetchOptions options;
  options.max_messages = std::min<size_t>(1000, kMaxHeldEvents - held);
  // Without a digest interval, one email per event while the rate limit
  // allows it; once limited, events gather into the next digest.
  if (config_.digest_interval.count() == 0 && held == 0 && limiter_.NextAllowed(now) <= now &&
      retry_at_ <= now) {
    options.max_messages = 1;
  }
  options.wait = max_wait;
  if (!listed_.empty()) {
    options.wait = std::min(max_wait, std::chrono::ceil<Millis>(DueAt(now) - now));
  }
  // Held events stay in flight while the digest gathers and the rate limit
  // holds; a crash makes them visible again on restart.
  options.visibility_timeout =
      config_.digest_interval + config_.rate_interval + config_.timeout + Millis(60000);
  auto fetched = consumer_->Fetch(options);
  if (!fetched.ok()) {
    spdlog::warn("notify {}: fetch failed: {}", target_.subscription, fetched.status().ToString());
    return;
  }
  if (listed_.empty() && !fetched->empty()) first_at_ = Clock::now();
  for (auto& d : *fetched) {
    if (listed_.size() < std::max<uint32_t>(config_.digest_max_events, 1)) {
      listed_.push_back(std::move(d));
    } else {
      unlisted_.push_back(d.receipt);
    }
  }
  now = Clock::now();
  if (now >= DueAt(now)) SendDigest(now);
}

void EmailWorker::SendDigest(Clock::time_point now) {
  const size_t count = listed_.size() + unlisted_.size();
  ParsedEvent first(listed_.front().message);
  TemplateContext context{&first, target_.subscription, target_.topic, count, unlisted_.size()};
  EmailContent content;
  content.from = config_.from;
  content.to = config_.to;
  content.subject = subject_.Render(context);
  if (count == 1) {
    content.body = body_.Render(context);
  } else {
    content.body = std::to_string(count) + " events on subscription " + target_.subscription +
                   " (topic " + target_.topic + ").\n";
    for (size_t i = 0; i < listed_.size(); ++i) {
      ParsedEvent event(listed_[i].message);
      TemplateContext c{&event, target_.subscription, target_.topic, count, unlisted_.size()};
      content.body += "\n--- event " + std::to_string(i + 1) + " of " + std::to_string(count) +
                      " (seq " + std::to_string(listed_[i].message.seq) + ") ---\n";
      content.body += body_.Render(c);
      content.body += "\n";
    }
    if (!unlisted_.empty()) {
      content.body += "\n... and " + std::to_string(unlisted_.size()) +
                      " more event(s) not listed (digest_max_events: " +
                      std::to_string(config_.digest_max_events) + ").\n";
    }
  }
  content.message_id = "inlet." + target_.subscription + "." +
                       std::to_string(listed_.front().message.seq) + "." + RandomHex(12) + "@inlet";
  content.extra_headers = {{"X-Inlet-Subscription", target_.subscription},
                           {"X-Inlet-Event-Count", std::to_string(count)}};
  std::string message = FormatEmail(content, static_cast<int64_t>(std::time(nullptr)));

  const auto started = Clock::now();
  Status st = smtp_.Send(config_.from, config_.to, message);
  metrics_.latency->Observe(std::chrono::duration<double>(Clock::now() - started).count());
  std::vector<bus::Receipt> receipts = HeldReceipts();
  if (st.ok()) {
    limiter_.Record(now);
    failures_ = 0;
    ++sent_;
    metrics_.emails_sent->Inc();
    metrics_.delivered->Inc(count);
    metrics_.digest_unlisted->Inc(unlisted_.size());
    metrics_.digest_events->Observe(static_cast<double>(count));
    Status ack = consumer_->Ack(receipts);
    if (!ack.ok()) spdlog::warn("notify {}: ack failed: {}", target_.subscription, ack.ToString());
  } else {
    ++failures_;
    metrics_.failed_attempts->Inc();
    metrics_.retries->Inc(count);
    Millis delay = RetryDelay(config_.retry, failures_);
    retry_at_ = Clock::now() + delay;  // events arriving meanwhile wait for the next attempt
    spdlog::warn("notify {}: email of {} event(s) failed (retry in {} ms): {}",
                 target_.subscription, count, delay.count(), st.message());
    Status nack = consumer_->Nack(receipts, delay);
    if (!nack.ok())
      spdlog::warn("notify {}: nack failed: {}", target_.subscription, nack.ToString());
  }
  ClearHeld();
}

std::vector<bus::Receipt> EmailWorker::HeldReceipts() const {
  std::vector<bus::Receipt> out = unlisted_;
  for (const auto& d : listed_) out.push_back(d.receipt);
  return out;
}

void EmailWorker::ClearHeld() {
  listed_.clear();
  unlisted_.clear();
}

void EmailWorker::Shutdown() {
  if (listed_.empty()) return;
  Status st = consumer_->Nack(HeldReceipts(), Millis(0));
  (void)st;
  ClearHeld();
}

}  // namespace inlet::notify
