#include "bus/filter_policy.h"

#include <gtest/gtest.h>

#include <string>

#include "bus/message_attributes.h"

namespace inlet::bus {
namespace {

constexpr PolicyScope kAttributes = PolicyScope::kMessageAttributes;
constexpr PolicyScope kBody = PolicyScope::kMessageBody;

// Compiles `policy` (which must be valid) and evaluates it on one message.
bool BodyMatches(const std::string& policy, const std::string& body) {
  Result<FilterPolicy> compiled = FilterPolicy::Compile(policy, kBody);
  EXPECT_TRUE(compiled.ok()) << compiled.status().message();
  if (!compiled.ok()) return false;
  PolicyInput input;
  input.Reset({}, body);
  return compiled->Matches(input);
}

bool AttributesMatch(const std::string& policy, const std::string& attributes) {
  Result<FilterPolicy> compiled = FilterPolicy::Compile(policy, kAttributes);
  EXPECT_TRUE(compiled.ok()) << compiled.status().message();
  if (!compiled.ok()) return false;
  PolicyInput input;
  input.Reset(attributes, {});
  return compiled->Matches(input);
}

std::string CompileError(const std::string& policy, PolicyScope scope = kAttributes) {
  Result<FilterPolicy> compiled = FilterPolicy::Compile(policy, scope);
  return compiled.ok() ? "" : compiled.status().message();
}

std::string Attr(const std::string& name, const std::string& type, const std::string& value) {
  return "\"" + name + "\":{\"DataType\":\"" + type + "\",\"StringValue\":\"" + value + "\"}";
}

TEST(PolicyScopeTest, ParsesSnsNames) {
  EXPECT_EQ(*ParsePolicyScope("MessageBody"), kBody);
  EXPECT_EQ(*ParsePolicyScope("MessageAttributes"), kAttributes);
  EXPECT_FALSE(ParsePolicyScope("messagebody").ok());
  EXPECT_STREQ(PolicyScopeName(kBody), "MessageBody");
}

TEST(FilterPolicyTest, EmptyPolicyMatchesEverything) {
  EXPECT_TRUE(AttributesMatch("{}", "{}"));
  EXPECT_TRUE(AttributesMatch("", "{}"));
  EXPECT_TRUE(BodyMatches("{}", "not json at all"));
}

TEST(FilterPolicyTest, ExactValuesOfEveryJsonType) {
  const std::string body = R"({"s":"x","n":300,"t":true,"f":false,"z":null})";
  EXPECT_TRUE(BodyMatches(R"({"s":["x"]})", body));
  EXPECT_FALSE(BodyMatches(R"({"s":["X"]})", body));
  EXPECT_TRUE(BodyMatches(R"({"n":[300]})", body));
  EXPECT_TRUE(BodyMatches(R"({"n":[3.0e2]})", body));
  EXPECT_FALSE(BodyMatches(R"({"n":["300"]})", body));
  EXPECT_TRUE(BodyMatches(R"({"t":[true]})", body));
  EXPECT_FALSE(BodyMatches(R"({"t":[false]})", body));
  EXPECT_TRUE(BodyMatches(R"({"f":[false]})", body));
  EXPECT_TRUE(BodyMatches(R"({"z":[null]})", body));
  EXPECT_FALSE(BodyMatches(R"({"s":[null]})", body));
  EXPECT_FALSE(BodyMatches(R"({"missing":[null]})", body));
}

TEST(FilterPolicyTest, StringOperators) {
  const std::string attrs = "{" + Attr("event", "String", "order-Placed") + "}";
  EXPECT_TRUE(AttributesMatch(R"({"event":[{"prefix":"order-"}]})", attrs));
  EXPECT_FALSE(AttributesMatch(R"({"event":[{"prefix":"Order-"}]})", attrs));
  EXPECT_TRUE(AttributesMatch(R"({"event":[{"suffix":"Placed"}]})", attrs));
  EXPECT_FALSE(AttributesMatch(R"({"event":[{"suffix":"placed"}]})", attrs));
  EXPECT_TRUE(AttributesMatch(R"({"event":[{"equals-ignore-case":"ORDER-placed"}]})", attrs));
  EXPECT_FALSE(AttributesMatch(R"({"event":[{"equals-ignore-case":"order"}]})", attrs));
  // Case folding beyond ASCII.
  EXPECT_TRUE(
      BodyMatches(R"({"c":[{"equals-ignore-case":"ÄRGER Ωμέγα"}]})", R"({"c":"ärger ΩΜΈΓΑ"})"));
}

TEST(FilterPolicyTest, AnythingBut) {
  EXPECT_TRUE(BodyMatches(R"({"e":[{"anything-but":"a"}]})", R"({"e":"b"})"));
  EXPECT_FALSE(BodyMatches(R"({"e":[{"anything-but":"a"}]})", R"({"e":"a"})"));
  EXPECT_FALSE(BodyMatches(R"({"e":[{"anything-but":["a","b"]}]})", R"({"e":"b"})"));
  EXPECT_TRUE(BodyMatches(R"({"e":[{"anything-but":[100,500]}]})", R"({"e":100.5})"));
  EXPECT_FALSE(BodyMatches(R"({"e":[{"anything-but":[100,500]}]})", R"({"e":1e2})"));
  EXPECT_FALSE(BodyMatches(R"({"e":[{"anything-but":{"prefix":"ord"}}]})", R"({"e":"order"})"));
  EXPECT_TRUE(BodyMatches(R"({"e":[{"anything-but":{"prefix":"ord"}}]})", R"({"e":"bord"})"));
  // A missing key is not "anything but": SNS does not deliver.
  EXPECT_FALSE(BodyMatches(R"({"e":[{"anything-but":"a"}]})", R"({"other":"b"})"));
  // On an array, one element outside the list is enough.
  EXPECT_TRUE(BodyMatches(R"({"e":[{"anything-but":["a"]}]})", R"({"e":["a","b"]})"));
  EXPECT_FALSE(BodyMatches(R"({"e":[{"anything-but":["a"]}]})", R"({"e":["a"]})"));
}

TEST(FilterPolicyTest, NumericComparisonsAndRanges) {
  auto m = [](const std::string& cond, const std::string& value) {
    return AttributesMatch(R"({"p":[{"numeric":)" + cond + "}]}",
                           "{" + Attr("p", "Number", value) + "}");
  };
  EXPECT_TRUE(m(R"(["=",301.5])", "3.015e2"));
  EXPECT_FALSE(m(R"(["=",301.5])", "301.50001"));
  EXPECT_TRUE(m(R"([">",0,"<=",100])", "100"));
  EXPECT_FALSE(m(R"([">",0,"<=",100])", "0"));
  EXPECT_TRUE(m(R"([">=",0,"<",100])", "0"));
  EXPECT_FALSE(m(R"([">=",0,"<",100])", "100"));
  EXPECT_TRUE(m(R"(["<",-5])", "-5.5"));
  EXPECT_FALSE(m(R"(["<",-5])", "-5"));
  // Values beyond SNS's numeric range never satisfy a numeric condition.
  EXPECT_FALSE(m(R"([">",0])", "2e9"));
  // A String attribute is not a number.
  EXPECT_FALSE(
      AttributesMatch(R"({"p":[{"numeric":[">",0]}]})", "{" + Attr("p", "String", "5") + "}"));
}

TEST(FilterPolicyTest, ExistsAndMissingAttributes) {
  const std::string attrs = "{" + Attr("store", "String", "x") + "}";
  EXPECT_TRUE(AttributesMatch(R"({"store":[{"exists":true}]})", attrs));
  EXPECT_FALSE(AttributesMatch(R"({"store":[{"exists":false}]})", attrs));
  EXPECT_TRUE(AttributesMatch(R"({"other":[{"exists":false}]})", attrs));
  // SNS: exists:false needs at least one attribute on the message.
  EXPECT_FALSE(AttributesMatch(R"({"other":[{"exists":false}]})", "{}"));
  EXPECT_FALSE(AttributesMatch(R"({"other":[{"exists":false}]})", ""));
  // exists:false or a value.
  EXPECT_TRUE(BodyMatches(R"({"k":["v",{"exists":false}]})", R"({"a":1})"));
  EXPECT_TRUE(BodyMatches(R"({"k":["v",{"exists":false}]})", R"({"k":"v"})"));
  EXPECT_FALSE(BodyMatches(R"({"k":["v",{"exists":false}]})", R"({"k":"w"})"));
}

TEST(FilterPolicyTest, CidrIpv4AndIpv6) {
  const std::string v4 = R"({"ip":[{"cidr":"10.0.0.0/24"}]})";
  EXPECT_TRUE(BodyMatches(v4, R"({"ip":"10.0.0.255"})"));
  EXPECT_FALSE(BodyMatches(v4, R"({"ip":"10.0.1.0"})"));
  EXPECT_FALSE(BodyMatches(v4, R"({"ip":"10.0.0.256"})"));
  EXPECT_FALSE(BodyMatches(v4, R"({"ip":"::ffff:10.0.0.1"})"));
  const std::string v6 = R"({"ip":[{"cidr":"2001:db8:1234:1a00::/64"}]})";
  EXPECT_TRUE(BodyMatches(v6, R"({"ip":"2001:0db8:1234:1a00:0000:0000:0000:0001"})"));
  EXPECT_FALSE(BodyMatches(v6, R"({"ip":"2001:db8:1234:1a01::1"})"));
  EXPECT_TRUE(BodyMatches(R"({"ip":[{"cidr":"0.0.0.0/0"}]})", R"({"ip":"8.8.8.8"})"));
  EXPECT_TRUE(BodyMatches(R"({"ip":[{"cidr":"10.1.2.3/32"}]})", R"({"ip":"10.1.2.3"})"));
  EXPECT_FALSE(BodyMatches(R"({"ip":[{"cidr":"10.1.2.3/31"}]})", R"({"ip":"10.1.2.1"})"));
}

TEST(FilterPolicyTest, NestedAndDottedKeysInTheBody) {
  const std::string policy = R"({"a":{"b":{"c":["x"]}}})";
  EXPECT_TRUE(BodyMatches(policy, R"({"a":{"b":{"c":"x"}}})"));
  EXPECT_TRUE(BodyMatches(policy, R"({"a.b":{"c":"x"}})"));
  EXPECT_TRUE(BodyMatches(policy, R"({"a":{"b.c":"x"}})"));
  EXPECT_TRUE(BodyMatches(R"({"a.b.c":["x"]})", R"({"a":{"b":{"c":"x"}}})"));
  EXPECT_FALSE(BodyMatches(policy, R"({"a":{"c":"x"}})"));
  EXPECT_FALSE(BodyMatches(policy, R"({"a":{"b":{"c":{"d":"x"}}}})"));
  // A body that is not a JSON object matches no policy.
  EXPECT_FALSE(BodyMatches(R"({"a":[{"exists":false}]})", R"("just a string")"));
  EXPECT_FALSE(BodyMatches(R"({"a":[{"exists":false}]})", "plain text"));
}

TEST(FilterPolicyTest, ArraysNeverMixElements) {
  const std::string body =
      R"({"people":[{"name":"ann","ids":[1,2]},{"name":"bob"},[{"name":"cy","age":3}]]})";
  EXPECT_TRUE(BodyMatches(R"({"people":{"name":["ann"],"ids":[2]}})", body));
  EXPECT_FALSE(BodyMatches(R"({"people":{"name":["bob"],"ids":[2]}})", body));
  EXPECT_TRUE(BodyMatches(R"({"people":{"name":["bob"],"ids":[{"exists":false}]}})", body));
  EXPECT_FALSE(BodyMatches(R"({"people":{"name":["ann"],"ids":[{"exists":false}]}})", body));
  EXPECT_TRUE(BodyMatches(R"({"people":{"name":["cy"],"age":[3]}})", body));
  EXPECT_FALSE(BodyMatches(R"({"people":{"name":["ann"],"age":[3]}})", body));
  // Only when no element has the key does exists:false hold on its own.
  EXPECT_FALSE(BodyMatches(R"({"people":{"ids":[{"exists":false}]}})", body));
}

TEST(FilterPolicyTest, StringArrayAttributes) {
  const std::string attrs = "{" + Attr("tags", "String.Array", R"([\"a\", 5, true, null])") + "}";
  EXPECT_TRUE(AttributesMatch(R"({"tags":["a"]})", attrs));
  EXPECT_TRUE(AttributesMatch(R"({"tags":[5]})", attrs));
  EXPECT_TRUE(AttributesMatch(R"({"tags":[true]})", attrs));
  EXPECT_TRUE(AttributesMatch(R"({"tags":[null]})", attrs));
  EXPECT_FALSE(AttributesMatch(R"({"tags":["b"]})", attrs));
  // Not a JSON array: no element matches.
  EXPECT_FALSE(
      AttributesMatch(R"({"tags":["a"]})", "{" + Attr("tags", "String.Array", "['a']") + "}"));
  // Binary attributes are never compared, but count as present.
  const std::string binary = R"({"b":{"DataType":"Binary","BinaryValue":"AAE="}})";
  EXPECT_FALSE(AttributesMatch(R"({"b":[{"exists":true}]})", binary));
  EXPECT_TRUE(AttributesMatch(R"({"x":[{"exists":false}]})", binary));
}

TEST(FilterPolicyTest, OrOperator) {
  const std::string policy =
      R"({"source":["a"],"$or":[{"metric":["cpu"]},{"ns":["ec2"],"$or":[{"id":[1]},{"sp":[2]}]}]})";
  Result<FilterPolicy> compiled = FilterPolicy::Compile(policy, kBody);
  ASSERT_TRUE(compiled.ok()) << compiled.status().message();
  EXPECT_EQ(compiled->combinations(), 3u);
  EXPECT_TRUE(BodyMatches(policy, R"({"source":"a","metric":"cpu"})"));
  EXPECT_TRUE(BodyMatches(policy, R"({"source":"a","ns":"ec2","sp":2})"));
  EXPECT_FALSE(BodyMatches(policy, R"({"source":"a","ns":"ec2"})"));
  EXPECT_FALSE(BodyMatches(policy, R"({"source":"b","metric":"cpu"})"));
  // A key inside an $or branch replaces the same key outside it.
  const std::string over =
      R"({"name":["a","b"],"$or":[{"name":[{"anything-but":"a"}]},{"c":["x"]}]})";
  EXPECT_TRUE(BodyMatches(over, R"({"name":"c"})"));
  EXPECT_TRUE(BodyMatches(over, R"({"name":"a","c":"x"})"));
  EXPECT_FALSE(BodyMatches(over, R"({"name":"a"})"));
}

TEST(FilterPolicyValidationTest, ErrorsGiveSnsReasonAndKey) {
  EXPECT_EQ(CompileError(R"({"price":[{"numeric":[">=","x"]}]})"),
            "FilterPolicy: Value of >= must be numeric (key \"price\")");
  EXPECT_EQ(CompileError(R"({"a":{"b":[{"prefix":1}]}})", kBody),
            "FilterPolicy: prefix match pattern must be a string (key \"a.b\")");
  EXPECT_EQ(CompileError(R"({"k":"v"})"),
            "FilterPolicy: \"k\" must be an object or an array (key \"k\")");
  EXPECT_EQ(CompileError(R"({"k":[{"prefix":"a","suffix":"b"}]})"),
            "FilterPolicy: Only one key allowed in match expression (key \"k\")");
  EXPECT_EQ(CompileError(R"({"k":[{"wildcard":"a*"}]})"),
            "FilterPolicy: Unrecognized match type wildcard (key \"k\")");
  EXPECT_EQ(CompileError(R"({"k":[{"anything-but":{"suffix":"a"}}]})"),
            "FilterPolicy: Unsupported anything-but pattern: suffix (key \"k\")");
  EXPECT_EQ(CompileError(R"({"a":{"b":["x"]}})"),
            "FilterPolicy: Filter policy scope MessageAttributes does not support nested filter "
            "policy (key \"a\")");
  EXPECT_EQ(CompileError(R"({"k":[{"cidr":"10.0.0.0/33"}]})"),
            "FilterPolicy: Malformed CIDR, mask bits must be between 0 and 32 (key \"k\")");
  EXPECT_NE(CompileError("[1]").find("must be a JSON object"), std::string::npos);
  EXPECT_NE(CompileError("{\"a\": [").find("failed to parse JSON"), std::string::npos);
  EXPECT_NE(CompileError(R"({"$or":[]})").find("$or"), std::string::npos);
}

TEST(FilterPolicyValidationTest, NumericBoundsAndPrecision) {
  EXPECT_EQ(CompileError(R"({"n":[{"numeric":["<",1000000000]}]})"), "");
  EXPECT_EQ(CompileError(R"({"n":[{"numeric":[">",-1000000000,"<",0.00001]}]})"), "");
  EXPECT_NE(CompileError(R"({"n":[{"numeric":["<",1000000001]}]})").find("between"),
            std::string::npos);
  EXPECT_NE(CompileError(R"({"n":[{"numeric":["=",0.000001]}]})").find("5 digits"),
            std::string::npos);
  EXPECT_EQ(CompileError(R"({"n":[{"numeric":[">",5,"<",5]}]})"),
            "FilterPolicy: Bottom must be less than top (key \"n\")");
}

TEST(FilterPolicyValidationTest, KeyLimitCountsTopLevelKeysPerOrBranch) {
  EXPECT_EQ(CompileError(R"({"a":[1],"b":[1],"c":[1],"d":[1],"e":[1]})"), "");
  EXPECT_NE(
      CompileError(R"({"a":[1],"b":[1],"c":[1],"d":[1],"e":[1],"f":[1]})").find("more than 5 keys"),
      std::string::npos);
  // Payload policies: nested keys do not count.
  EXPECT_EQ(CompileError(R"({"a":[1],"b":[1],"c":[1],"d":[1],"e":{"x":[1],"y":[1]}})", kBody), "");
  // Each $or branch is counted with the keys around it.
  EXPECT_EQ(CompileError(R"({"a":[1],"b":[1],"c":[1],"$or":[{"d":[1],"e":[1]},{"f":[1]}]})"), "");
  EXPECT_NE(CompileError(R"({"a":[1],"b":[1],"c":[1],"$or":[{"d":[1],"e":[1],"g":[1]},{"f":[1]}]})")
                .find("more than 5 keys"),
            std::string::npos);
}

TEST(FilterPolicyValidationTest, ComplexityAsSnsCountsIt) {
  std::string values;
  for (int i = 0; i < 150; ++i) values += (i ? "," : "") + std::to_string(i);
  EXPECT_EQ(CompileError("{\"k\":[" + values + "]}"), "");
  EXPECT_NE(CompileError("{\"k\":[" + values + ",150]}").find("too complex"), std::string::npos);
  // SNS's documented example: (4 x 6) + (4 x 4 x 4) + (4 x 4 x 4) = 152.
  EXPECT_NE(CompileError(R"({"source":["a","b","c","d"],"$or":[{"m":[1,2,3,4,5,6]},
      {"t":[1,2,3,4],"$or":[{"i":[1,2,3,4]},{"s":[1,2,3,4]}]}]})")
                .find("too complex (152 combinations"),
            std::string::npos);
  // Nested payload keys weigh their depth: 4 values at depth 3 and 3 at depth 2 give 72.
  Result<FilterPolicy> nested =
      FilterPolicy::Compile(R"({"a":{"b":{"c":[1,2,3,4]}},"d":{"e":[1,2,3]}})", kBody);
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->combinations(), 72u);
  // Deeply multiplied $or never expands before the limit stops it.
  std::string many = "{";
  for (int i = 0; i < 30; ++i) {
    many += (i ? "," : "") + std::string("\"k") + std::to_string(i) +
            "\":{\"$or\":[{\"a\":[1]},{\"b\":[1]}]}";
  }
  many += "}";
  EXPECT_NE(CompileError(many, kBody).find("too complex"), std::string::npos);
}

TEST(PolicyInputTest, ReusedAcrossMessagesAndScopes) {
  Result<FilterPolicy> by_body = FilterPolicy::Compile(R"({"k":["v"]})", kBody);
  Result<FilterPolicy> by_attr = FilterPolicy::Compile(R"({"k":["v"]})", kAttributes);
  ASSERT_TRUE(by_body.ok() && by_attr.ok());
  PolicyInput input;
  const std::string a1 = "{" + Attr("k", "String", "v") + "}";
  input.Reset(a1, R"({"k":"w"})");
  EXPECT_TRUE(by_attr->Matches(input));
  EXPECT_FALSE(by_body->Matches(input));
  input.Reset("", R"({"k":"v"})");
  EXPECT_FALSE(by_attr->Matches(input));
  EXPECT_TRUE(by_body->Matches(input));
  input.Reset(a1, R"({"k":["x","v"]})");
  EXPECT_TRUE(by_attr->Matches(input));
  EXPECT_TRUE(by_body->Matches(input));
}

TEST(PolicyInputTest, AdversarialArraysFinish) {
  // Three conditions over large arrays with no consistent choice: the search
  // is bounded and must come back.
  std::string a, b;
  for (int i = 0; i < 3000; ++i) {
    a += std::string(i ? "," : "") + "{\"x\":" + (i == 2999 ? "2" : "1") +
         ",\"y\":" + std::to_string(i) + "}";
    b += std::string(i ? "," : "") + "{\"z\":1}";
  }
  const std::string body = "{\"a\":[" + a + "],\"b\":[" + b + "]}";
  EXPECT_TRUE(BodyMatches(R"({"a":{"x":[2],"y":[2999]},"b":{"z":[1]}})", body));
  EXPECT_FALSE(BodyMatches(R"({"a":{"x":[1],"y":[2999]},"b":{"z":[1]}})", body));
  EXPECT_FALSE(BodyMatches(R"({"a":{"x":[2],"y":[1]},"b":{"z":[1]}})", body));
}

TEST(TestPolicyTest, AttributesAreValidatedStrictly) {
  EXPECT_TRUE(*TestPolicy(R"({"k":["v"]})", kAttributes, "{" + Attr("k", "String", "v") + "}"));
  EXPECT_FALSE(*TestPolicy(R"({"k":["v"]})", kAttributes, "{" + Attr("k", "String", "w") + "}"));
  Result<bool> bad_number =
      TestPolicy(R"({"k":["v"]})", kAttributes, "{" + Attr("k", "Number", "abc") + "}");
  ASSERT_FALSE(bad_number.ok());
  EXPECT_NE(bad_number.status().message().find("\"k\""), std::string::npos);
  EXPECT_FALSE(TestPolicy(R"({"k":["v"]})", kAttributes, "[1]").ok());
  EXPECT_FALSE(TestPolicy(R"({"k":"v"})", kAttributes, "{}").ok());
  // The body may be anything; non-objects simply do not match.
  EXPECT_FALSE(*TestPolicy(R"({"k":["v"]})", kBody, "hello"));
  EXPECT_TRUE(*TestPolicy(R"({"k":["v"]})", kBody, R"({"k":"v"})"));
}

TEST(MessageAttributesReaderTest, StrictAndLenient) {
  MessageAttributesReader reader;
  std::vector<MessageAttribute> out;
  ASSERT_TRUE(reader
                  .Read(R"({"a":{"Type":"Number","Value":300},"b":{"DataType":"String.x",)"
                        R"("StringValue":"s"}})",
                        true, &out)
                  .ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].value, "300");
  EXPECT_EQ(out[0].type, AttributeType::kNumber);
  EXPECT_EQ(out[1].type, AttributeType::kString);
  const std::string bad =
      R"({"a":{"DataType":"Blob","StringValue":"s"},"b":{"DataType":"String","StringValue":"t"}})";
  EXPECT_FALSE(reader.Read(bad, true, &out).ok());
  ASSERT_TRUE(reader.Read(bad, false, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].name, "b");
  EXPECT_FALSE(
      reader.Read(R"({"a":{"DataType":"String.Array","StringValue":"x"}})", true, &out).ok());
  EXPECT_FALSE(reader.Read("not json", false, &out).ok());
}

}  // namespace
}  // namespace inlet::bus
