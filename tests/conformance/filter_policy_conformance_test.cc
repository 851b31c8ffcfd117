// Runs every case of ../shared/conformance/sns-filter-policies through
// FilterPolicy. The AWS-validated, documentation and AWS validation-error
// files must pass in full. The LocalStack unit file and the two event-ruler
// files must pass wherever SNS semantics apply; every case left out is
// printed with its reason, and where the reason is "SNS rejects this policy"
// the test checks that FilterPolicy rejects it too.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bus/filter_policy.h"
#include "support/test_support.h"

namespace inlet::bus {
namespace {

namespace fs = std::filesystem;
using simdjson::dom::element;

constexpr const char* kDir = "conformance/sns-filter-policies";

struct Case {
  std::string id;
  std::string scope;  // as written in the file
  std::string policy;
  std::string message;  // body text or attributes JSON
  bool expected = false;
  std::vector<std::string> operators;
  bool valid_on_aws = true;
  std::string note;
};

// Operators EventBridge (event-ruler) has and SNS rejects when a
// subscription's policy is set.
const std::map<std::string, std::string>& EventBridgeOnlyOperators() {
  static const std::map<std::string, std::string> kOps = {
      {"wildcard", "wildcard matching is EventBridge-only"},
      {"anything-but/wildcard", "anything-but with wildcard is EventBridge-only"},
      {"anything-but/suffix",
       "anything-but with suffix: SNS answers 'Unsupported anything-but pattern: suffix'"},
      {"anything-but/equals-ignore-case",
       "anything-but with equals-ignore-case is EventBridge-only"},
      {"prefix/equals-ignore-case", "prefix with equals-ignore-case is EventBridge-only"},
      {"suffix/equals-ignore-case", "suffix with equals-ignore-case is EventBridge-only"},
  };
  return kOps;
}

// Cases of the event-ruler and LocalStack files whose policy SNS accepts but
// whose expected outcome follows EventBridge or LocalStack, not SNS. Each
// entry says why (see SOURCE.md, "SNS-specific semantics").
const std::map<std::string, std::string>& SemanticDifferences() {
  static const std::map<std::string, std::string> kDiffs = {};
  return kDiffs;
}

std::string Text(element e) {
  if (e.is_string()) return std::string(e.get_string().value_unsafe());
  return simdjson::to_string(e);
}

std::optional<element> Field(simdjson::dom::object o, std::string_view name) {
  element e;
  if (o[name].get(e) || e.is_null()) return std::nullopt;
  return e;
}

std::vector<Case> LoadCases(const fs::path& file) {
  std::vector<Case> cases;
  std::istringstream lines(testing::ReadFile(file));
  std::string line;
  simdjson::dom::parser parser;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    element root;
    simdjson::dom::object o;
    if (parser.parse(line).get(root) || root.get_object().get(o)) {
      ADD_FAILURE() << file << ": unparsable line " << line.substr(0, 80);
      continue;
    }
    Case c;
    c.id = Text(*Field(o, "id"));
    c.scope = Field(o, "scope") ? Text(*Field(o, "scope")) : "MessageAttributes";
    // The exact text the engine received, where the file keeps it.
    if (auto t = Field(o, "policy_text")) {
      c.policy = Text(*t);
    } else {
      c.policy = simdjson::to_string(*Field(o, "policy"));
    }
    if (auto a = Field(o, "message_attributes")) {
      c.message = simdjson::to_string(*a);
    } else if (auto t = Field(o, "message_text")) {
      c.message = Text(*t);
    } else if (auto t = Field(o, "event_text")) {
      c.message = Text(*t);
    } else if (auto t = Field(o, "message_raw")) {
      c.message = Text(*t);
    } else if (auto m = Field(o, "message")) {
      c.message = simdjson::to_string(*m);
    }
    if (auto e = Field(o, "expected")) c.expected = e->get_bool().value_unsafe();
    if (auto e = Field(o, "valid")) c.expected = e->get_bool().value_unsafe();
    if (auto v = Field(o, "policy_valid_on_aws")) c.valid_on_aws = v->get_bool().value_unsafe();
    if (auto ops = Field(o, "operators")) {
      simdjson::dom::array array = ops->get_array().value_unsafe();
      for (element op : array) c.operators.push_back(Text(op));
    }
    if (auto e = Field(o, "aws_error_message")) c.note = Text(*e);
    cases.push_back(std::move(c));
  }
  return cases;
}

PolicyScope ScopeOf(const Case& c) {
  // EventBridge patterns apply to the whole event: SNS's payload scope.
  return c.scope.starts_with("MessageAttributes") ? PolicyScope::kMessageAttributes
                                                  : PolicyScope::kMessageBody;
}

// True when some numeric operand of the policy is outside what SNS accepts:
// magnitude above 1e9 or more than 5 digits after the decimal point.
bool HasNumericOutsideSnsRange(element e, bool in_numeric) {
  if (e.is_object()) {
    simdjson::dom::object o = e.get_object().value_unsafe();
    for (auto [key, value] : o) {
      if (HasNumericOutsideSnsRange(value, key == "numeric")) return true;
    }
  } else if (e.is_array()) {
    simdjson::dom::array a = e.get_array().value_unsafe();
    for (element item : a) {
      if (HasNumericOutsideSnsRange(item, in_numeric)) return true;
    }
  } else if (in_numeric && e.is_number()) {
    const double v = e.get_double().value_unsafe();
    const double scaled = v * 1e5;
    if (std::fabs(v) > 1e9 || std::fabs(scaled - std::nearbyint(scaled)) > 1e-6) return true;
  }
  return false;
}

// True when the policy has {"anything-but": {"<op>": [ ... ]}} (a list of
// prefixes), which event-ruler accepts and SNS does not.
bool HasAnythingButOperandList(element e) {
  if (e.is_array()) {
    simdjson::dom::array a = e.get_array().value_unsafe();
    for (element item : a) {
      if (HasAnythingButOperandList(item)) return true;
    }
    return false;
  }
  if (!e.is_object()) return false;
  simdjson::dom::object o = e.get_object().value_unsafe();
  for (auto [key, value] : o) {
    if (key == "anything-but" && value.is_object()) {
      simdjson::dom::object inner = value.get_object().value_unsafe();
      for (auto [op, operand] : inner) {
        if (operand.is_array()) return true;
      }
    }
    if (HasAnythingButOperandList(value)) return true;
  }
  return false;
}

struct Outcome {
  int passed = 0;
  int skipped = 0;
  int failed = 0;
};

// Why SNS semantics do not apply to `c`, or "" when they do. `rejected` says
// whether that reason implies SNS rejects the policy (checked by the caller).
std::string SkipReason(const Case& c, const Result<FilterPolicy>& compiled, bool* rejected) {
  *rejected = true;
  if (!c.valid_on_aws) return "bare scalar policy value; SNS rejects it (must be an array)";
  for (const std::string& op : c.operators) {
    auto it = EventBridgeOnlyOperators().find(op);
    if (it != EventBridgeOnlyOperators().end()) return it->second;
  }
  simdjson::dom::parser parser;
  element policy;
  if (!parser.parse(c.policy).get(policy)) {
    if (HasNumericOutsideSnsRange(policy, false)) {
      return "numeric bound outside SNS's range (-1e9..1e9, 5 decimals)";
    }
    if (HasAnythingButOperandList(policy)) {
      return "anything-but prefix/suffix with a list is EventBridge-only (SNS: prefix match "
             "pattern must be a string)";
    }
  }
  if (!compiled.ok()) {
    const std::string& m = compiled.status().message();
    if (m.find("more than 5 keys") != std::string::npos ||
        m.find("too complex") != std::string::npos) {
      return "exceeds SNS policy limits: " + m;
    }
  }
  *rejected = false;
  auto diff = SemanticDifferences().find(c.id);
  if (diff != SemanticDifferences().end()) return diff->second;
  return "";
}

void RunMatchFile(const std::string& name, bool skips_allowed) {
  INLET_REQUIRE_SHARED(shared);
  const fs::path file = shared / kDir / name;
  ASSERT_TRUE(fs::exists(file)) << file;
  std::vector<Case> cases = LoadCases(file);
  ASSERT_FALSE(cases.empty());
  Outcome outcome;
  PolicyInput input;
  for (const Case& c : cases) {
    const PolicyScope scope = ScopeOf(c);
    Result<FilterPolicy> policy = FilterPolicy::Compile(c.policy, scope);
    if (skips_allowed) {
      bool rejected = false;
      std::string reason = SkipReason(c, policy, &rejected);
      if (!reason.empty()) {
        if (rejected && policy.ok()) {
          ++outcome.failed;
          ADD_FAILURE() << c.id << ": SNS rejects this policy (" << reason
                        << ") but FilterPolicy accepted it: " << c.policy;
          continue;
        }
        ++outcome.skipped;
        std::printf("[ SKIPPED  ] %s %s: %s%s\n", name.c_str(), c.id.c_str(), reason.c_str(),
                    rejected ? " (checked: FilterPolicy rejects it too)" : "");
        continue;
      }
    }
    if (!policy.ok()) {
      ++outcome.failed;
      ADD_FAILURE() << c.id << ": policy rejected: " << policy.status().message()
                    << "\n  policy: " << c.policy;
      continue;
    }
    if (scope == PolicyScope::kMessageAttributes) {
      input.Reset(c.message, {});
    } else {
      input.Reset({}, c.message);
    }
    const bool got = policy->Matches(input);
    if (got == c.expected) {
      ++outcome.passed;
    } else {
      ++outcome.failed;
      ADD_FAILURE() << c.id << ": expected " << (c.expected ? "match" : "no match") << ", got "
                    << (got ? "match" : "no match") << "\n  scope: " << c.scope
                    << "\n  policy: " << c.policy << "\n  message: " << c.message.substr(0, 600);
    }
  }
  std::printf("%s: %zu cases, %d passed, %d skipped, %d failed\n", name.c_str(), cases.size(),
              outcome.passed, outcome.skipped, outcome.failed);
  ::testing::Test::RecordProperty("passed", outcome.passed);
  ::testing::Test::RecordProperty("skipped", outcome.skipped);
  if (!skips_allowed) {
    EXPECT_EQ(outcome.skipped, 0);
  }
}

TEST(SnsFilterPolicyConformance, AwsValidatedLocalStackCases) {
  RunMatchFile("sns-aws-validated-localstack.jsonl", /*skips_allowed=*/false);
}

TEST(SnsFilterPolicyConformance, AwsDocumentationExamples) {
  RunMatchFile("docs-examples.jsonl", /*skips_allowed=*/false);
}

TEST(SnsFilterPolicyConformance, LocalStackUnitCases) {
  RunMatchFile("sns-localstack-unit.jsonl", /*skips_allowed=*/true);
}

TEST(SnsFilterPolicyConformance, EventRulerAssertedCases) {
  RunMatchFile("eventbridge-eventruler-asserted.jsonl", /*skips_allowed=*/true);
}

TEST(SnsFilterPolicyConformance, EventRulerEngineCases) {
  RunMatchFile("eventbridge-eventruler-engine.jsonl", /*skips_allowed=*/true);
}

// Every policy SNS rejected is rejected with SNS's reason; the valid ones
// compile.
TEST(SnsFilterPolicyConformance, AwsPolicyValidation) {
  INLET_REQUIRE_SHARED(shared);
  const fs::path file = shared / kDir / "sns-policy-validation-aws.jsonl";
  std::vector<Case> cases = LoadCases(file);
  ASSERT_FALSE(cases.empty());
  int passed = 0;
  for (const Case& c : cases) {
    Result<FilterPolicy> policy = FilterPolicy::Compile(c.policy, ScopeOf(c));
    if (c.expected) {
      EXPECT_TRUE(policy.ok()) << c.id << ": " << policy.status().message();
      passed += policy.ok();
      continue;
    }
    const std::string marker = "FilterPolicy: ";
    const std::string reason = c.note.substr(c.note.find(marker) + marker.size());
    if (policy.ok()) {
      ADD_FAILURE() << c.id << ": accepted, SNS says: " << reason
                    << "\n  policy: " << c.policy.substr(0, 300);
      continue;
    }
    const std::string& got = policy.status().message();
    EXPECT_NE(got.find(reason), std::string::npos)
        << c.id << ": SNS says \"" << reason << "\", FilterPolicy says \"" << got << "\"";
    passed += got.find(reason) != std::string::npos;
  }
  std::printf("sns-policy-validation-aws.jsonl: %zu cases, %d passed, 0 skipped\n", cases.size(),
              passed);
}

}  // namespace
}  // namespace inlet::bus
