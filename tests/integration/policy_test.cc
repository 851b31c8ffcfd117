// Subscriptions with SNS filter policies over the real binary: each receives
// exactly the matching subset of a mixed stream; an invalid policy stops the
// start with the file, line and key.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <set>

#include "support/inlet_process.h"

namespace inlet::testing {
namespace {

const char* kTopology = R"(topics:
  events: {}
subscriptions:
  errors-only:
    topic: events
    filter_policy: {kind: [error], severity: [{numeric: [">=", 3]}]}
  body-or:
    topic: events
    filter_policy_scope: MessageBody
    filter_policy:
      $or:
        - {device: {os: [{prefix: "andr"}]}}
        - {battery: [{numeric: [">", 0, "<=", 10]}]}
  everything:
    topic: events
)";

std::set<int> ReceiveNs(InletProcess& inlet, const std::string& sub) {
  std::set<int> out;
  simdjson::dom::parser p;
  auto r = inlet.Post("/v1/subscriptions/" + sub + "/receive", R"({"max_messages": 1000})");
  EXPECT_TRUE(r.ok() && r->status == 200);
  for (auto m : simdjson::dom::array(p.parse(r->body)["messages"]))
    out.insert(int(int64_t(m["body"]["n"])));
  return out;
}

TEST(PolicyTest, EachSubscriptionReceivesExactlyItsMatchingSubset) {
  TempDir dir;
  const int port = FreePort();
  InletProcess inlet(dir.path(), TestConfig(port, dir.path() / "data", kTopology), port);
  ASSERT_TRUE(inlet.WaitReady()) << inlet.Log();
  std::set<int> want_errors, want_body;
  for (int n = 0; n < 60; ++n) {
    const bool error = n % 3 == 0;
    const int severity = n % 5;
    const char* os = n % 4 == 0 ? "android" : "ios";
    const int battery = n % 7 == 0 ? 5 : 80;
    const std::string attrs = std::string(R"({"kind":{"DataType":"String","StringValue":")") +
                              (error ? "error" : "info") +
                              R"("},"severity":{"DataType":"Number","StringValue":")" +
                              std::to_string(severity) + "\"}}";
    const std::string body = "{\"n\":" + std::to_string(n) + ",\"device\":{\"os\":\"" + os +
                             "\"},\"battery\":" + std::to_string(battery) + "}";
    auto r = inlet.Post("/v1/topics/events/events", body, {{"X-Message-Attributes", attrs}});
    ASSERT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.status().ToString());
    if (error && severity >= 3) want_errors.insert(n);
    if (std::string(os) == "android" || battery <= 10) want_body.insert(n);
  }
  EXPECT_EQ(ReceiveNs(inlet, "errors-only"), want_errors);
  EXPECT_EQ(ReceiveNs(inlet, "body-or"), want_body);
  EXPECT_EQ(ReceiveNs(inlet, "everything").size(), 60u);
  ASSERT_FALSE(want_errors.empty());
  ASSERT_FALSE(want_body.empty());
}

TEST(PolicyTest, AnInvalidPolicyFailsTheConfigurationWithFileLineAndKey) {
  TempDir dir;
  const std::string config = TestConfig(FreePort(), dir.path() / "data", R"(topics:
  events: {}
subscriptions:
  bad:
    topic: events
    filter_policy: {price: [{numeric: [">", "cheap"]}]}
)");
  WriteFile(dir.path() / "bad.yaml", config);
  Child check({InletBinary().string(), "check", (dir.path() / "bad.yaml").string()},
              dir.path() / "check.log");
  EXPECT_EQ(check.Wait(), 1);
  const std::string log = check.Log();
  EXPECT_NE(log.find("bad.yaml:"), std::string::npos) << log;
  EXPECT_NE(log.find("subscriptions.bad.filter_policy"), std::string::npos) << log;
  EXPECT_NE(log.find("numeric"), std::string::npos) << log;
}

}  // namespace
}  // namespace inlet::testing
