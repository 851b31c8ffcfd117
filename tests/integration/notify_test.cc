// Notification subscriptions: the YAML section (parsed as `inlet check`
// does) and, end to end, the real inlet binary delivering a mixed stream to
// two webhooks and an SMTP server on loopback, each through its own filter
// policy. The end-to-end test needs NotificationService wired into
// `inlet run` (src/cli/pipeline.cc).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <set>

#include "config/config.h"
#include "support/inlet_process.h"
#include "unit/notify/notify_servers.h"

namespace inlet::testing {
namespace {
using namespace std::chrono_literals;

const char* kTargets = R"(topics:
  events: {}
  hooks-dlq: {}
subscriptions:
  hooks:
    topic: events
    filter_policy: {severity: [high]}
    webhook:
      url: http://127.0.0.1:9/hook
      timeout: 2s
      num_retries: 4
      min_delay: 100ms
      max_delay: 2s
      secret_env: WEBHOOK_SECRET
      batch_size: 10
      batch_window: 200ms
      dead_letter_topic: hooks-dlq
      headers: {X-Team: payments}
  error-mail:
    topic: events
    filter_policy: {category: [malformed_json, missing_field]}
    filter_policy_scope: MessageBody
    email:
      url: smtp://127.0.0.1:2525
      from: inlet@example.org
      to: [ops@example.org, oncall@example.org]
      subject: "[inlet] {{@count}} x {{category}}"
      body: "{{@arrival}} {{$.device.os}}: {{message}}"
      digest_interval: 1m
      digest_max_events: 50
      max_emails: 20
      rate_interval: 1h
      username_env: SMTP_USER
      password_file: /run/secrets/smtp
)";

Result<config::Config> Parse(const std::string& body) {
  return config::ParseConfig("server:\n  listen: 127.0.0.1:8080\n  auth: false\n" + body,
                             "inlet.yaml");
}

TEST(NotifyConfigTest, ReadsWebhookAndEmailTargets) {
  auto cfg = Parse(kTargets);
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  ASSERT_EQ(cfg->notify.targets.size(), 2u);
  const auto& w = cfg->notify.targets[0];
  EXPECT_EQ(w.subscription, "hooks");
  EXPECT_EQ(w.topic, "events");
  EXPECT_EQ(w.kind, notify::TargetKind::kWebhook);
  EXPECT_EQ(w.webhook.timeout, 2s);
  EXPECT_EQ(w.webhook.retry.num_retries, 4u);
  EXPECT_EQ(w.webhook.retry.min_delay, 100ms);
  EXPECT_EQ(w.webhook.secret.env, "WEBHOOK_SECRET");
  EXPECT_EQ(w.webhook.batch_size, 10u);
  EXPECT_EQ(w.webhook.dead_letter_topic, "hooks-dlq");
  ASSERT_EQ(w.webhook.headers.size(), 1u);
  const auto& e = cfg->notify.targets[1];
  EXPECT_EQ(e.kind, notify::TargetKind::kEmail);
  EXPECT_EQ(e.email.to, (std::vector<std::string>{"ops@example.org", "oncall@example.org"}));
  EXPECT_EQ(e.email.digest_interval, 60s);
  EXPECT_EQ(e.email.max_emails, 20u);
  EXPECT_EQ(e.email.password.file, "/run/secrets/smtp");
}

TEST(NotifyConfigTest, RejectsMistakesWithTheKeyAtFault) {
  struct Case {
    std::string from, to, message;
  };
  const Case cases[] = {
      {"      url: http://127.0.0.1:9/hook\n", "      url: ftp://x\n",
       "subscriptions.hooks.webhook.url"},
      {"      dead_letter_topic: hooks-dlq\n", "      dead_letter_topic: nope\n",
       "no topic 'nope'"},
      {"      batch_size: 10\n", "      batch_size: 0\n", "subscriptions.hooks.webhook.batch_size"},
      {"      min_delay: 100ms\n", "      min_delay: 5s\n", "must be at least min_delay"},
      {"      timeout: 2s\n", "      timeout: 2s\n      retries: 3\n",
       "subscriptions.hooks.webhook.retries: unknown key"},
      {"{{@count}} x {{category}}", "{{@count x", "never closed"},
      {"to: [ops@example.org, oncall@example.org]", "to: [not-an-address]",
       "'not-an-address' is not an email"},
      {"      url: smtp://127.0.0.1:2525\n",
       "      url: smtps://127.0.0.1:465\n      starttls: true\n", "starttls applies to smtp://"},
      {"    filter_policy: {severity: [high]}\n",
       "    filter_policy: {severity: [high]}\n    email: {url: \"smtp://x:25\", from: a@b.c, to: "
       "[d@e.f]}\n",
       "at most one notification target"},
  };
  for (const auto& c : cases) {
    std::string text = kTargets;
    size_t pos = text.find(c.from);
    ASSERT_NE(pos, std::string::npos) << c.from;
    text.replace(pos, c.from.size(), c.to);
    auto cfg = Parse(text);
    ASSERT_FALSE(cfg.ok()) << c.to;
    EXPECT_NE(cfg.status().message().find(c.message), std::string::npos) << cfg.status().message();
    EXPECT_NE(cfg.status().message().find("inlet.yaml:"), std::string::npos);
  }
}

std::set<int64_t> WebhookIds(const WebhookReceiver& r) {
  std::set<int64_t> ids;
  simdjson::dom::parser p;
  for (const auto& req : r.Requests()) {
    if (req.status != 200) continue;
    simdjson::dom::element root;
    if (p.parse(req.body).get(root) != simdjson::SUCCESS) continue;
    for (auto e : simdjson::dom::array(root["events"])) ids.insert(int64_t(e["event"]["id"]));
  }
  return ids;
}

TEST(NotifyEndToEndTest, MixedStreamReachesEachTargetThroughItsPolicy) {
  TempDir dir;
  WebhookReceiver attr_hook(dir.path() / "attr", /*fail_first=*/2, 503, "e2e-secret");
  WebhookReceiver body_hook(dir.path() / "body", 0);
  SmtpServer smtp(dir.path() / "smtp");
  ASSERT_TRUE(attr_hook.ready() && body_hook.ready() && smtp.ready()) << smtp.Log();
  ::setenv("INLET_E2E_WEBHOOK_SECRET", "e2e-secret", 1);  // inherited by the child
  const std::string body = R"(topics:
  events: {}
  dlq: {}
subscriptions:
  by-severity:
    topic: events
    filter_policy: {severity: [high]}
    webhook: {url: ")" + attr_hook.url() +
                           R"(", num_retries: 5, min_delay: 100ms, max_delay: 1s,
              secret_env: INLET_E2E_WEBHOOK_SECRET, dead_letter_topic: dlq}
  slow-or-malformed:
    topic: events
    filter_policy_scope: MessageBody
    filter_policy: {"$or": [{category: [malformed_json]}, {latency_ms: [{numeric: [">", 500]}]}]}
    webhook: {url: ")" + body_hook.url() +
                           R"(", batch_size: 20, batch_window: 200ms}
  missing-mail:
    topic: events
    filter_policy_scope: MessageBody
    filter_policy: {category: [{prefix: missing_}]}
    email: {url: ")" + smtp.url() +
                           R"(", from: inlet@example.org, to: [ops@example.org],
            subject: "{{@count}} missing", body: "{{id}}:{{category}}", digest_interval: 500ms}
)";
  const int port = FreePort();
  InletProcess inlet(dir.path(), TestConfig(port, dir.path() / "data", body), port);
  ASSERT_TRUE(inlet.WaitReady()) << inlet.Log();

  const char* kCategories[] = {"ok", "malformed_json", "missing_field", "missing_table",
                               "wrong_type"};
  std::set<int64_t> want_attr, want_body, want_mail;
  for (int id = 0; id < 30; ++id) {
    std::string category = kCategories[id % 5];
    int latency = (id * 37) % 1000;
    std::string severity = id % 3 == 0 ? "high" : "low";
    auto r =
        inlet.Post("/v1/topics/events/events",
                   "{\"id\":" + std::to_string(id) + ",\"category\":\"" + category +
                       "\",\"latency_ms\":" + std::to_string(latency) + "}",
                   {{"X-Message-Attributes",
                     R"({"severity":{"DataType":"String","StringValue":")" + severity + "\"}}"}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->status, 200) << r->body;
    if (severity == "high") want_attr.insert(id);
    if (category == "malformed_json" || latency > 500) want_body.insert(id);
    if (category.rfind("missing_", 0) == 0) want_mail.insert(id);
  }
  ASSERT_TRUE(WaitUntil([&] { return WebhookIds(attr_hook).size() >= want_attr.size(); }, 60s))
      << inlet.Log();
  ASSERT_TRUE(WaitUntil([&] { return WebhookIds(body_hook).size() >= want_body.size(); }, 60s))
      << inlet.Log();
  std::set<int64_t> mailed;
  ASSERT_TRUE(WaitUntil(
      [&] {
        mailed.clear();
        for (const auto& m : smtp.Mails()) {
          size_t line = 0;
          while (line < m.body.size()) {
            size_t end = m.body.find('\n', line);
            if (end == std::string::npos) end = m.body.size();
            std::string l = m.body.substr(line, end - line);
            size_t colon = l.find(":missing_");
            if (colon != std::string::npos && colon > 0)
              mailed.insert(std::stoll(l.substr(0, colon)));
            line = end + 1;
          }
        }
        return mailed.size() >= want_mail.size();
      },
      60s))
      << smtp.Log();
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(WebhookIds(attr_hook), want_attr);
  EXPECT_EQ(WebhookIds(body_hook), want_body);
  EXPECT_EQ(mailed, want_mail);
  for (const auto& r : attr_hook.Requests()) EXPECT_EQ(r.signature_valid, 1);
  EXPECT_GE(attr_hook.Requests().size(), want_attr.size() + 2);  // it failed its first two attempts
}

}  // namespace
}  // namespace inlet::testing
