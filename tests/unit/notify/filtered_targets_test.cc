// One topic, three notification subscriptions with different filter
// policies (attribute-scoped, body-scoped with $or and numeric, and an
// email one): a mixed stream reaches each target as exactly its subset.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <set>

#include "unit/notify/notify_fixture.h"

namespace inlet::notify {
namespace {
using namespace std::chrono_literals;
using inlet::testing::SmtpServer;
using inlet::testing::WaitUntil;
using inlet::testing::WebhookReceiver;

std::set<int64_t> WebhookIds(const WebhookReceiver& r) {
  std::set<int64_t> ids;
  simdjson::dom::parser p;
  for (const auto& req : r.Requests()) {
    if (req.status != 200) continue;
    simdjson::dom::element root = p.parse(req.body);
    for (auto e : simdjson::dom::array(root["events"])) ids.insert(int64_t(e["event"]["id"]));
  }
  return ids;
}

class FilteredTargetsTest : public NotifyFixture {};

TEST_F(FilteredTargetsTest, EachTargetGetsExactlyItsSubset) {
  WebhookReceiver attr_hook(dir_.path() / "attr",
                            /*fail_first=*/2);  // survives failing first attempts
  WebhookReceiver body_hook(dir_.path() / "body", 0);
  SmtpServer smtp(dir_.path() / "smtp");
  ASSERT_TRUE(attr_hook.ready() && body_hook.ready() && smtp.ready()) << smtp.Log();
  AddSubscription("by-severity", R"({"severity":["high"]})", bus::PolicyScope::kMessageAttributes);
  AddSubscription(
      "slow-or-malformed",
      R"({"$or":[{"category":["malformed_json"]},{"latency_ms":[{"numeric":[">",500]}]}]})");
  AddSubscription("missing-mail", R"({"category":[{"prefix":"missing_"}]})");
  OpenBus();
  NotifyConfig config{{WebhookTarget("by-severity", attr_hook.url()),
                       WebhookTarget("slow-or-malformed", body_hook.url()),
                       EmailTarget("missing-mail", smtp.url())}};
  config.targets[0].webhook.retry.min_delay = 50ms;
  config.targets[2].email.digest_interval = 500ms;
  config.targets[2].email.body = "{{id}}:{{category}}";
  StartService(config);

  const char* kCategories[] = {"ok", "malformed_json", "missing_field", "missing_table",
                               "wrong_type"};
  std::set<int64_t> want_attr, want_body, want_mail;
  std::vector<std::string> payloads, attributes;
  for (int id = 0; id < 40; ++id) {
    std::string category = kCategories[id % 5];
    int latency = (id * 37) % 1000;
    std::string severity = id % 3 == 0 ? "high" : "low";
    payloads.push_back("{\"id\":" + std::to_string(id) + ",\"category\":\"" + category +
                       "\",\"latency_ms\":" + std::to_string(latency) + "}");
    attributes.push_back(R"({"severity":{"DataType":"String","StringValue":")" + severity + "\"}}");
    if (severity == "high") want_attr.insert(id);
    if (category == "malformed_json" || latency > 500) want_body.insert(id);
    if (category.rfind("missing_", 0) == 0) want_mail.insert(id);
  }
  Publish(payloads, attributes);

  ASSERT_TRUE(WaitUntil([&] { return WebhookIds(attr_hook).size() >= want_attr.size(); }))
      << attr_hook.Log();
  ASSERT_TRUE(WaitUntil([&] { return WebhookIds(body_hook).size() >= want_body.size(); }));
  ASSERT_TRUE(smtp.WaitForMails(1));
  std::this_thread::sleep_for(800ms);  // anything extra would have arrived by now
  EXPECT_EQ(WebhookIds(attr_hook), want_attr);
  EXPECT_EQ(WebhookIds(body_hook), want_body);
  std::set<int64_t> mailed;
  for (const auto& m : smtp.Mails()) {
    size_t pos = 0;
    while ((pos = m.body.find(":missing_", pos)) != std::string::npos) {
      size_t start = m.body.rfind('\n', pos);
      start = start == std::string::npos ? 0 : start + 1;
      mailed.insert(std::stoll(m.body.substr(start, pos - start)));
      ++pos;
    }
  }
  EXPECT_EQ(mailed, want_mail);
  EXPECT_EQ(attr_hook.Requests().size(), want_attr.size() + 2);  // two failed attempts first
}

}  // namespace
}  // namespace inlet::notify
