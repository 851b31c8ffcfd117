#include "delivery/prefix_expression.h"

#include <gtest/gtest.h>

#include "delivery/delivery_stream_config.h"
#include "schema/time_util.h"

namespace inlet::delivery {
namespace {

// 2024-03-05T07:08:09.123456Z
constexpr int64_t kTime = 1709622489123456;

std::string Expand(std::string_view text, PrefixRole role = PrefixRole::kData,
                   std::vector<std::string> values = {}) {
  std::vector<std::string> names;
  for (size_t i = 0; i < values.size(); ++i) names.push_back("k" + std::to_string(i));
  auto e = PrefixExpression::Parse(text, role, names);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  if (!e.ok()) return "";
  std::string out;
  e->Evaluate(PrefixValues{kTime, &values, "abcdefghijk", "format-conversion-failed"}, &out);
  return out;
}

std::string ParseError(std::string_view text, PrefixRole role = PrefixRole::kData) {
  auto e = PrefixExpression::Parse(text, role, {"device"});
  EXPECT_FALSE(e.ok()) << text;
  return e.ok() ? "" : e.status().message();
}

TEST(PrefixExpressionTest, DefaultPrefixes) {
  EXPECT_EQ(Expand(kDefaultPrefix), "year=2024/month=03/day=05/");
  EXPECT_EQ(Expand(kDefaultErrorPrefix, PrefixRole::kError),
            "errors/format-conversion-failed/year=2024/month=03/day=05/");
}

TEST(PrefixExpressionTest, TimestampLetters) {
  EXPECT_EQ(Expand("!{timestamp:yyyy-MM-dd HH:mm:ss.SSS}/"), "2024-03-05 07:08:09.123/");
  EXPECT_EQ(Expand("!{timestamp:yy/M/d/H}/"), "24/3/5/7/");
  EXPECT_EQ(Expand("!{timestamp:DDD}-!{timestamp:MMM}-!{timestamp:MMMM}/"), "065-Mar-March/");
  EXPECT_EQ(Expand("!{timestamp:hh a}/"), "07 AM/");
  EXPECT_EQ(Expand("!{timestamp:yyyy'Q'}/"), "2024Q/");
  EXPECT_EQ(Expand("static/path/"), "static/path/");
  EXPECT_EQ(FormatTimestamp("yyyy-MM-dd-HH-mm-ss", kTime), "2024-03-05-07-08-09");
}

TEST(PrefixExpressionTest, PartitionKeysAndFirehoseValues) {
  EXPECT_EQ(Expand("os=!{partitionKeyFromQuery:k0}/v=!{partitionKeyFromQuery:k1}/",
                   PrefixRole::kData, {"ios", "17.1"}),
            "os=ios/v=17.1/");
  // A value cannot add path segments or escape the prefix.
  EXPECT_EQ(Expand("os=!{partitionKeyFromQuery:k0}/", PrefixRole::kData, {"a/b c"}),
            "os=a%2Fb%20c/");
  EXPECT_EQ(Expand("os=!{partitionKeyFromQuery:k0}/", PrefixRole::kData, {".."}), "os=%2E%2E/");
  EXPECT_EQ(Expand("r=!{firehose:random-string}/"), "r=abcdefghijk/");
}

TEST(PrefixExpressionTest, InvalidExpressionsAreRejectedClearly) {
  EXPECT_NE(ParseError("x=!{foo:bar}/").find("unknown expression namespace 'foo'"),
            std::string::npos);
  EXPECT_NE(ParseError("x=!{timestamp:yyyy").find("without a closing '}'"), std::string::npos);
  EXPECT_NE(ParseError("x=!{timestamp:yyyy-QQ}/").find("unsupported timestamp letter 'Q'"),
            std::string::npos);
  EXPECT_NE(ParseError("x=!{partitionKeyFromQuery:other}/").find("'other' is not declared"),
            std::string::npos);
  EXPECT_NE(ParseError("e/!{partitionKeyFromQuery:device}/", PrefixRole::kError)
                .find("cannot be used in the error prefix"),
            std::string::npos);
  EXPECT_NE(ParseError("!{firehose:error-output-type}/").find("only be used in the error prefix"),
            std::string::npos);
  EXPECT_NE(ParseError("!{firehose:uuid}/").find("unknown firehose expression"), std::string::npos);
  EXPECT_NE(ParseError("!{partitionKeyFromLambda:x}/").find("not supported"), std::string::npos);
  EXPECT_NE(ParseError("/abs/").find("invalid key"), std::string::npos);
  EXPECT_NE(ParseError("a/../b/").find("invalid key"), std::string::npos);
  EXPECT_NE(ParseError("a//b/").find("invalid key"), std::string::npos);
  EXPECT_NE(ParseError("a\\b/").find("not allowed"), std::string::npos);
  EXPECT_NE(ParseError("x=!{timestamp}/").find("expected !{namespace:argument}"),
            std::string::npos);
  // Offsets point at the fault.
  EXPECT_NE(ParseError("ok/!{bad:x}/").find("offset 3"), std::string::npos);
}

DeliveryStreamConfig ValidConfig() {
  DeliveryStreamConfig c;
  c.name = "events-raw";
  c.subscription = "raw";
  c.table.database = "raw";
  c.table.name = "events";
  c.table.columns.push_back(schema::Column{"id", *schema::ParseType("string")});
  return c;
}

TEST(DeliveryStreamConfigTest, DefaultsAreValid) {
  DeliveryStreamConfig c = ValidConfig();
  EXPECT_TRUE(ValidateDeliveryStreamConfig(c).ok()) << ValidateDeliveryStreamConfig(c).ToString();
  EXPECT_EQ(EffectiveLocation(c), "raw/events/");
  EXPECT_EQ(c.prefix, "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/");
  EXPECT_EQ(c.compression, Compression::kZstd);
}

TEST(DeliveryStreamConfigTest, ErrorsNameTheKey) {
  struct Case {
    std::function<void(DeliveryStreamConfig&)> change;
    const char* needle;
  };
  std::vector<Case> cases = {
      {[](auto& c) { c.name = "bad name"; }, "name:"},
      {[](auto& c) { c.subscription = ""; }, "subscription: is required"},
      {[](auto& c) { c.buffer_interval = std::chrono::seconds(901); },
       "buffer_interval: must be 0..900"},
      {[](auto& c) { c.buffer_size_bytes = 200ull << 20; }, "buffer_size: must be 1..128 MiB"},
      {[](auto& c) { c.buffer_size_bytes = 1000; }, "buffer_size: must be 1..128 MiB"},
      {[](auto& c) { c.prefix = "!{nope:x}/"; }, "prefix: prefix '!{nope:x}/'"},
      {[](auto& c) { c.error_prefix = "errors/"; },
       "error_prefix: must contain !{firehose:error-output-type}"},
      {[](auto& c) { c.error_prefix = "raw/events/!{firehose:error-output-type}/"; },
       "must not lie inside"},
      {[](auto& c) {
         c.partition_keys.push_back({"os", "$.os"});
       },
       "partition_keys.os: is declared but not used"},
      {[](auto& c) {
         c.partition_keys.push_back({"os", "$.os[0]"});
         c.prefix = "os=!{partitionKeyFromQuery:os}/";
       },
       "partition_keys.os: JSON path"},
      {[](auto& c) { c.time_field = "$."; }, "time_field: JSON path"},
      {[](auto& c) {
         c.table.columns.push_back(schema::Column{"_seq", *schema::ParseType("bigint")});
       },
       "table.columns._seq: is reserved"},
      {[](auto& c) {
         c.table.columns.push_back(schema::Column{"id", *schema::ParseType("bigint")});
       },
       "table.columns.id: is declared twice"},
      {[](auto& c) { c.max_open_partitions = 0; }, "max_open_partitions"},
      {[](auto& c) { c.max_buffered_bytes = 1 << 20; },
       "max_buffered_bytes: must be at least buffer_size"},
  };
  for (const Case& k : cases) {
    DeliveryStreamConfig c = ValidConfig();
    k.change(c);
    Status st = ValidateDeliveryStreamConfig(c);
    ASSERT_FALSE(st.ok()) << k.needle;
    EXPECT_NE(st.message().find(k.needle), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("delivery stream '"), std::string::npos);
  }
}

TEST(DeliveryStreamConfigTest, CompressionNames) {
  EXPECT_EQ(*ParseCompression("snappy"), Compression::kSnappy);
  EXPECT_EQ(*ParseCompression("none"), Compression::kNone);
  EXPECT_FALSE(ParseCompression("lz4").ok());
}

}  // namespace
}  // namespace inlet::delivery
