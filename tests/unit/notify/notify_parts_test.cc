// The pure parts of notify: templates, email formatting, signatures, retry
// delays, the rate limiter and secrets.
#include <gtest/gtest.h>

#include <cstdlib>

#include "notify/email_worker.h"
#include "notify/message_template.h"
#include "notify/rate_limiter.h"
#include "notify/retry_policy.h"
#include "notify/secret_source.h"
#include "notify/webhook_signature.h"
#include "notify/webhook_worker.h"
#include "support/test_support.h"

namespace inlet::notify {
namespace {
using namespace std::chrono_literals;

bus::Message Event(std::string payload, std::string attributes = "") {
  bus::Message m;
  m.seq = 42;
  m.arrival_us = 1714564800123456;  // 2024-05-01T12:00:00.123Z
  m.payload = std::move(payload);
  m.attributes = std::move(attributes);
  m.key_id = "producer";
  return m;
}

std::string Render(const std::string& text, const bus::Message& m, size_t count = 1,
                   size_t more = 0) {
  auto t = MessageTemplate::Parse(text);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  ParsedEvent e(m);
  return t->Render({&e, "alerts", "errors", count, more});
}

TEST(MessageTemplateTest, InsertsEventFieldsByPath) {
  auto m = Event(
      R"({"category":"malformed_json","device":{"os":"android","v":14},"tags":["a","b"],"ok":true,"n":null})");
  EXPECT_EQ(Render("{{category}} on {{$.device.os}} v{{ device.v }}", m),
            "malformed_json on android v14");
  EXPECT_EQ(Render("{{tags[1]}} {{tags}} {{ok}} {{n}} {{device}}", m),
            R"(b ["a","b"] true null {"os":"android","v":14})");
  EXPECT_EQ(Render("[{{missing}}][{{device.nope}}][{{tags[9]}}][{{category.x}}]", m), "[][][][]");
  EXPECT_EQ(Render("{{$['category']}}", m), "malformed_json");
}

TEST(MessageTemplateTest, InsertsDeliveryProperties) {
  auto m = Event(R"({ "a" : 1 })", R"({"severity":{"DataType":"String","StringValue":"high"}})");
  EXPECT_EQ(Render("{{@subscription}}/{{@topic}}/{{@seq}}/{{@arrival}}/{{@key_id}}", m),
            "alerts/errors/42/2024-05-01T12:00:00.123Z/producer");
  EXPECT_EQ(Render("{{@event}} {{@attr.severity}} [{{@attr.none}}]", m), R"({"a":1} high [])");
  EXPECT_EQ(Render("{{@count}} events, {{@more}} more", m, 7, 2), "7 events, 2 more");
}

TEST(MessageTemplateTest, InvalidPayloadRendersEmptyFieldsAndRawEvent) {
  auto m = Event("not json");
  EXPECT_EQ(Render("[{{category}}] {{@event}}", m), "[] not json");
}

TEST(MessageTemplateTest, RejectsMalformedTemplates) {
  for (const char* bad : {"{{category", "{{}}", "{{@nope}}", "{{a..b}}", "{{a[x]}}", "{{a.}}"}) {
    EXPECT_FALSE(MessageTemplate::Parse(bad).ok()) << bad;
  }
  EXPECT_TRUE(MessageTemplate::Parse("no fields at all } {").ok());
}

TEST(EmailFormatTest, SubjectCannotInjectHeaders) {
  EmailContent c{"a@x.org", {"b@x.org", "c@x.org"}, "hi\r\nBcc: evil@x.org", "body", "id@inlet",
                 {}};
  std::string text = FormatEmail(c, 0);
  EXPECT_NE(text.find("Subject: hi  Bcc: evil@x.org\r\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("\r\nBcc:"), std::string::npos);
  EXPECT_NE(text.find("To: b@x.org, c@x.org\r\n"), std::string::npos);
  EXPECT_NE(text.find("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"), std::string::npos);
}

TEST(EmailFormatTest, QuotedPrintableKeepsLinesShortAndEscapes) {
  std::string long_line(200, 'x');
  std::string qp = QuotedPrintable(long_line + "\n= é \n");
  size_t start = 0;
  while (start < qp.size()) {
    size_t end = qp.find("\r\n", start);
    if (end == std::string::npos) end = qp.size();
    EXPECT_LE(end - start, 76u);
    start = end + 2;
  }
  EXPECT_NE(qp.find("=3D =C3=A9=20\r\n"), std::string::npos) << qp;
}

TEST(WebhookSignatureTest, MatchesTheHmacSha256OfTimestampDotBody) {
  // RFC 4231-style known answer computed independently.
  EXPECT_EQ(HmacSha256Hex("key", "The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
  std::string sig = SignWebhook("s3cret", 1700000000, "{}");
  EXPECT_EQ(sig, "sha256=" + HmacSha256Hex("s3cret", "1700000000.{}"));
  EXPECT_TRUE(VerifyWebhook("s3cret", 1700000000, "{}", sig));
  EXPECT_FALSE(VerifyWebhook("other", 1700000000, "{}", sig));
  EXPECT_FALSE(VerifyWebhook("s3cret", 1700000001, "{}", sig));
  EXPECT_FALSE(VerifyWebhook("s3cret", 1700000000, "{ }", sig));
}

TEST(RetryPolicyTest, BackoffDoublesUpToTheMaximumWithBoundedJitter) {
  RetryPolicy p{.num_retries = 10, .min_delay = 100ms, .max_delay = 1000ms, .jitter = 0};
  EXPECT_EQ(BaseRetryDelay(p, 1), 100ms);
  EXPECT_EQ(BaseRetryDelay(p, 2), 200ms);
  EXPECT_EQ(BaseRetryDelay(p, 4), 800ms);
  EXPECT_EQ(BaseRetryDelay(p, 5), 1000ms);
  EXPECT_EQ(BaseRetryDelay(p, 60), 1000ms);
  p.jitter = 0.5;
  bool varied = false;
  for (int i = 0; i < 200; ++i) {
    Millis d = RetryDelay(p, 3);
    EXPECT_GE(d, 200ms);
    EXPECT_LE(d, 400ms);
    varied |= d != 400ms;
  }
  EXPECT_TRUE(varied);
}

TEST(RateLimiterTest, AllowsAtMostMaxPerSlidingWindow) {
  RateLimiter limiter(2, 10s);
  auto t0 = RateLimiter::Clock::time_point{} + 1h;
  EXPECT_EQ(limiter.NextAllowed(t0), t0);
  limiter.Record(t0);
  limiter.Record(t0 + 1s);
  EXPECT_EQ(limiter.NextAllowed(t0 + 2s), t0 + 10s);
  EXPECT_EQ(limiter.NextAllowed(t0 + 10s), t0 + 10s);
  limiter.Record(t0 + 10s);
  EXPECT_EQ(limiter.NextAllowed(t0 + 10s), t0 + 11s);
  RateLimiter unlimited(0, 1s);
  unlimited.Record(t0);
  EXPECT_EQ(unlimited.NextAllowed(t0), t0);
}

TEST(SecretSourceTest, ReadsEnvironmentOrFile) {
  ::setenv("INLET_NOTIFY_TEST_SECRET", "from-env", 1);
  EXPECT_EQ(ReadSecret({"INLET_NOTIFY_TEST_SECRET", ""}, "s").value(), "from-env");
  ::unsetenv("INLET_NOTIFY_TEST_SECRET");
  EXPECT_EQ(ReadSecret({"INLET_NOTIFY_TEST_SECRET", ""}, "s").status().code(),
            StatusCode::kNotFound);
  inlet::testing::TempDir dir;
  inlet::testing::WriteFile(dir.path() / "secret", "from-file\n");
  EXPECT_EQ(ReadSecret({"", (dir.path() / "secret").string()}, "s").value(), "from-file");
  inlet::testing::WriteFile(dir.path() / "empty", "\n");
  EXPECT_EQ(ReadSecret({"", (dir.path() / "empty").string()}, "s").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(WebhookBodyTest, CarriesEventsAttributesAndRawPayloads) {
  std::vector<bus::Delivery> batch(2);
  batch[0].message = Event(R"({"id":1})", R"({"k":{"DataType":"String","StringValue":"v"}})");
  batch[0].receipt.attempt = 2;
  batch[1].message = Event("oops \"x\"");
  batch[1].message.seq = 43;
  batch[1].receipt.attempt = 1;
  EXPECT_EQ(
      WebhookBody("hooks", "events", batch),
      R"({"subscription":"hooks","topic":"events","events":[)"
      R"({"seq":42,"arrival":"2024-05-01T12:00:00.123Z","attempt":2,)"
      R"("attributes":{"k":{"DataType":"String","StringValue":"v"}},"event":{"id":1}},)"
      R"({"seq":43,"arrival":"2024-05-01T12:00:00.123Z","attempt":1,"event_raw":"oops \"x\""}]})");
}

}  // namespace
}  // namespace inlet::notify
