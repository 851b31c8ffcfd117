// Email notifications against a real SMTP server on loopback (Debian's
// python3-aiosmtpd with tests/support/smtp_recorder.py) and a real
// EmbeddedBus.
#include <gtest/gtest.h>

#include "unit/notify/notify_fixture.h"

namespace inlet::notify {
namespace {
using namespace std::chrono_literals;
using inlet::testing::SmtpServer;
using inlet::testing::WaitUntil;

class EmailTest : public NotifyFixture {};

TEST_F(EmailTest, ArrivesWithTemplatedSubjectAndBody) {
  SmtpServer smtp(dir_.path() / "smtp");
  ASSERT_TRUE(smtp.ready()) << smtp.Log();
  AddSubscription("mail");
  OpenBus();
  NotifyConfig config{{EmailTarget("mail", smtp.url())}};
  config.targets[0].email.subject = "[{{@subscription}}] {{category}} on {{$.device.os}}";
  config.targets[0].email.body = "Event {{id}} (seq {{@seq}}): {{message}}\nraw: {{@event}}";
  StartService(config);
  Publish(
      {R"({"id":5,"category":"malformed_json","device":{"os":"android"},"message":"Zürich = café"})"});

  ASSERT_TRUE(smtp.WaitForMails(1)) << smtp.Log();
  auto mails = smtp.Mails();
  ASSERT_EQ(mails.size(), 1u);
  const auto& m = mails[0];
  EXPECT_EQ(m.mail_from, "inlet@example.org");
  EXPECT_EQ(m.rcpt_tos, (std::vector<std::string>{"ops@example.org", "oncall@example.org"}));
  EXPECT_EQ(m.to, "ops@example.org, oncall@example.org");
  EXPECT_EQ(m.subject, "[mail] malformed_json on android");
  EXPECT_NE(m.body.find("Event 5 (seq 1): Zürich = café\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find(R"(raw: {"id":5,"category":"malformed_json")"), std::string::npos)
      << m.body;
  ASSERT_TRUE(WaitUntil([&] { return bus_->FindSubscription("mail")->Stats().backlog == 0; }));
  EXPECT_EQ(CounterValue("inlet_notify_emails_sent_total", "mail", "email"), 1u);
}

TEST_F(EmailTest, DigestGroupsEventsIntoOneMessage) {
  SmtpServer smtp(dir_.path() / "smtp");
  ASSERT_TRUE(smtp.ready()) << smtp.Log();
  AddSubscription("mail");
  OpenBus();
  NotifyConfig config{{EmailTarget("mail", smtp.url())}};
  auto& e = config.targets[0].email;
  e.digest_interval = 700ms;
  e.digest_max_events = 5;
  e.subject = "{{@count}} errors, first: {{category}}";
  e.body = "id={{id}}";
  StartService(config);
  for (int i = 1; i <= 7; ++i) {
    Publish({"{\"id\":" + std::to_string(i) + ",\"category\":\"c" + std::to_string(i) + "\"}"});
  }
  ASSERT_TRUE(smtp.WaitForMails(1));
  std::this_thread::sleep_for(1200ms);  // no second message for the same digest
  auto mails = smtp.Mails();
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_EQ(mails[0].subject, "7 errors, first: c1");
  EXPECT_EQ(mails[0].headers["X-Inlet-Event-Count"], "7");
  for (int i = 1; i <= 5; ++i) {
    EXPECT_NE(mails[0].body.find("id=" + std::to_string(i) + "\n"), std::string::npos)
        << mails[0].body;
  }
  EXPECT_EQ(mails[0].body.find("id=6"), std::string::npos);
  EXPECT_NE(mails[0].body.find("and 2 more event(s) not listed"), std::string::npos)
      << mails[0].body;
  EXPECT_EQ(CounterValue("inlet_notify_delivered_events_total", "mail", "email"), 7u);
  EXPECT_EQ(CounterValue("inlet_notify_digest_unlisted_events_total", "mail", "email"), 2u);
  EXPECT_EQ(bus_->FindSubscription("mail")->Stats().backlog, 0u);
}

TEST_F(EmailTest, RateLimitHoldsAndTheRestGoesOutAsOneDigest) {
  SmtpServer smtp(dir_.path() / "smtp");
  ASSERT_TRUE(smtp.ready()) << smtp.Log();
  AddSubscription("mail");
  OpenBus();
  NotifyConfig config{{EmailTarget("mail", smtp.url())}};
  auto& e = config.targets[0].email;
  e.max_emails = 2;
  e.rate_interval = 3s;
  e.subject = "{{@count}} event(s), first {{id}}";
  StartService(config);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1; i <= 6; ++i) {
    Publish({"{\"id\":" + std::to_string(i) + "}"});
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(smtp.WaitForMails(2));
  std::this_thread::sleep_for(1000ms);
  // Less than rate_interval since the first email: the limit holds.
  if (std::chrono::steady_clock::now() - start < 2800ms) {
    EXPECT_EQ(smtp.Mails().size(), 2u);
  }
  ASSERT_TRUE(smtp.WaitForMails(3, 10s));
  std::this_thread::sleep_for(300ms);
  auto mails = smtp.Mails();
  ASSERT_EQ(mails.size(), 3u);
  EXPECT_EQ(mails[0].subject, "1 event(s), first 1");
  EXPECT_EQ(mails[1].subject, "1 event(s), first 2");
  EXPECT_EQ(mails[2].subject, "4 event(s), first 3");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(CounterValue("inlet_notify_delivered_events_total", "mail", "email"), 6u);
}

TEST_F(EmailTest, RetriesUntilTheServerIsUp) {
  const int port = inlet::testing::FreePort();
  AddSubscription("mail");
  OpenBus();
  NotifyConfig config{{EmailTarget("mail", "smtp://127.0.0.1:" + std::to_string(port))}};
  StartService(config);
  Publish({R"({"id":1})"});
  ASSERT_TRUE(WaitUntil(
      [&] { return CounterValue("inlet_notify_failed_attempts_total", "mail", "email") >= 1; }));
  SmtpServer smtp(dir_.path() / "smtp", port);
  ASSERT_TRUE(smtp.ready()) << smtp.Log();
  ASSERT_TRUE(smtp.WaitForMails(1));
  EXPECT_EQ(smtp.Mails()[0].body, "{\"id\":1}\n");
  ASSERT_TRUE(WaitUntil([&] { return bus_->FindSubscription("mail")->Stats().backlog == 0; }));
}

}  // namespace
}  // namespace inlet::notify
