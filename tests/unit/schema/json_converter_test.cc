#include "schema/json_converter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace inlet::schema {
namespace {

TableSchema MakeSchema() {
  TableSchema s;
  s.database = "raw";
  s.name = "events";
  auto add = [&](const char* name, const char* type, bool required = false) {
    auto t = ParseType(type);
    EXPECT_TRUE(t.ok()) << type;
    Column c;
    c.name = name;
    c.type = *t;
    c.required = required;
    s.columns.push_back(std::move(c));
  };
  add("id", "string", true);
  add("n", "bigint");
  add("small", "int");
  add("score", "double");
  add("ok", "boolean");
  add("ts", "timestamp");
  add("day", "date");
  add("price", "decimal(10,2)");
  add("device", "struct<os:string,ver:int>");
  add("tags", "array<string>");
  add("attrs", "map<string,bigint>");
  return s;
}

class ConverterTest : public ::testing::Test {
 protected:
  ConverterTest()
      : schema_(MakeSchema()),
        converter_(&schema_, {.keep_unknown_fields = true}),
        batch_(&schema_),
        extra_(RecordConverter::ExtraType()) {}

  bool Convert(std::string_view json) {
    return converter_.Convert(json, &batch_, &extra_, &error_);
  }
  void ExpectError(std::string_view json, ConversionErrorCode code, std::string_view path) {
    size_t rows = batch_.rows();
    EXPECT_FALSE(Convert(json)) << json;
    EXPECT_EQ(ConversionErrorCodeName(error_.code), std::string(ConversionErrorCodeName(code)))
        << json;
    EXPECT_EQ(error_.path, path) << json << ": " << error_.ToString();
    EXPECT_FALSE(error_.message.empty());
    EXPECT_EQ(batch_.rows(), rows);
    for (size_t c = 0; c < batch_.column_count(); ++c) EXPECT_EQ(batch_.column(c)->size(), rows);
  }

  TableSchema schema_;
  RecordConverter converter_;
  ColumnBatch batch_;
  ColumnVector extra_;
  ConversionError error_;
};

TEST_F(ConverterTest, ConvertsEveryType) {
  ASSERT_TRUE(Convert(R"({"id":"a","n":-5,"small":7,"score":1.5,"ok":true,
    "ts":"2024-01-02T03:04:05.5Z","day":"2024-01-02","price":"12.345",
    "device":{"os":"ios","ver":17,"ignored":1},"tags":["x","y"],"attrs":{"k":1,"j":2},
    "unknown":{"a":[1,2]},"u2":"s"})"))
      << error_.ToString();
  ASSERT_EQ(batch_.rows(), 1u);
  EXPECT_EQ(batch_.column(0)->StringAt(0), "a");
  EXPECT_EQ(batch_.column(1)->int64_data()[0], -5);
  EXPECT_EQ(batch_.column(2)->int32_data()[0], 7);
  EXPECT_EQ(batch_.column(3)->double_data()[0], 1.5);
  EXPECT_EQ(batch_.column(4)->bool_data()[0], 1);
  EXPECT_EQ(batch_.column(5)->int64_data()[0], 1704164645500000);
  EXPECT_EQ(batch_.column(6)->int32_data()[0], 19724);
  EXPECT_EQ(static_cast<int64_t>(batch_.column(7)->decimal_data()[0]), 1235);  // rounded half up
  const ColumnVector* device = batch_.column(8);
  EXPECT_EQ(device->child(0)->StringAt(0), "ios");
  EXPECT_EQ(device->child(1)->int32_data()[0], 17);
  const ColumnVector* tags = batch_.column(9);
  EXPECT_EQ(tags->ListEnd(0) - tags->ListBegin(0), 2u);
  EXPECT_EQ(tags->child(0)->StringAt(1), "y");
  const ColumnVector* attrs = batch_.column(10);
  EXPECT_EQ(attrs->child(0)->StringAt(1), "j");
  EXPECT_EQ(attrs->child(1)->int64_data()[1], 2);
  EXPECT_EQ(extra_.StringAt(0), R"({"unknown":{"a":[1,2]},"u2":"s"})");
}

TEST_F(ConverterTest, NullsAndLenientScalars) {
  ASSERT_TRUE(Convert(R"({"n":"42","id":12,"score":"2.5e1","ok":"false","ts":1700000000123,
    "day":19000,"price":7,"device":null,"tags":[null,"z"]})"))
      << error_.ToString();
  EXPECT_EQ(batch_.column(0)->StringAt(0), "12");
  EXPECT_EQ(batch_.column(1)->int64_data()[0], 42);
  EXPECT_FALSE(batch_.column(2)->IsValid(0));
  EXPECT_EQ(batch_.column(3)->double_data()[0], 25.0);
  EXPECT_EQ(batch_.column(4)->bool_data()[0], 0);
  EXPECT_EQ(batch_.column(5)->int64_data()[0], 1700000000123000);
  EXPECT_EQ(batch_.column(6)->int32_data()[0], 19000);
  EXPECT_EQ(static_cast<int64_t>(batch_.column(7)->decimal_data()[0]), 700);
  EXPECT_FALSE(batch_.column(8)->IsValid(0));
  EXPECT_FALSE(batch_.column(8)->child(0)->IsValid(0));  // struct children stay aligned
  EXPECT_FALSE(batch_.column(9)->child(0)->IsValid(0));
  EXPECT_FALSE(batch_.column(10)->IsValid(0));
  EXPECT_FALSE(extra_.IsValid(0));
  ASSERT_TRUE(Convert(R"({"id":"b","ts":1700000000})"));
  EXPECT_EQ(batch_.column(5)->int64_data()[1], 1700000000000000);
}

TEST_F(ConverterTest, ErrorsCarryCodeAndPath) {
  ASSERT_TRUE(Convert(R"({"id":"first"})"));
  ExpectError(R"({"id":"a","device":{"os":"x","ver":"nine"}})", ConversionErrorCode::kTypeMismatch,
              "$.device.ver");
  ExpectError(R"({"id":"a","tags":["a",{"b":1}]})", ConversionErrorCode::kTypeMismatch,
              "$.tags[1]");
  ExpectError(R"({"n":1})", ConversionErrorCode::kMissingField, "$.id");
  ExpectError(R"({"id":null})", ConversionErrorCode::kMissingField, "$.id");
  ExpectError(R"({"id":"a","small":3000000000})", ConversionErrorCode::kOutOfRange, "$.small");
  ExpectError(R"({"id":"a","n":1.5})", ConversionErrorCode::kTypeMismatch, "$.n");
  ExpectError(R"({"id":"a","n":99999999999999999999})", ConversionErrorCode::kOutOfRange, "$.n");
  ExpectError(R"({"id":"a","ts":"tomorrow"})", ConversionErrorCode::kInvalidFormat, "$.ts");
  ExpectError(R"({"id":"a","price":123456789.5})", ConversionErrorCode::kOutOfRange, "$.price");
  ExpectError(R"({"id":"a","attrs":{"k":"v"}})", ConversionErrorCode::kTypeMismatch, "$.attrs.k");
  ExpectError(R"({"id":"a","id":"b"})", ConversionErrorCode::kDuplicateField, "$.id");
  ExpectError(R"({"id":"a","ok":1})", ConversionErrorCode::kTypeMismatch, "$.ok");
  ExpectError(R"({"id":"a","device":[1]})", ConversionErrorCode::kTypeMismatch, "$.device");
  ExpectError(R"([1,2])", ConversionErrorCode::kNotAnObject, "$");
  ExpectError(R"({"id":"a",)", ConversionErrorCode::kMalformedJson, "$");
  // The batch is still usable and holds only the good rows.
  ASSERT_TRUE(Convert(R"({"id":"last","tags":["q"]})"));
  EXPECT_EQ(batch_.rows(), 2u);
  EXPECT_EQ(batch_.column(0)->StringAt(1), "last");
  EXPECT_EQ(batch_.column(9)->child(0)->size(), 1u);
  EXPECT_EQ(batch_.column(9)->child(0)->StringAt(0), "q");
  EXPECT_EQ(extra_.size(), 2u);
}

// Keys are matched as written when they hold no escape and unescaped when they
// do; numbers go through simdjson's parsers with a fallback to their text.
TEST_F(ConverterTest, EscapedKeysAndNumberEdges) {
  ASSERT_TRUE(Convert(R"({"i\u0064":"esc","de\u0076ice":{"o\u0073":"linux"},"a\"b":1})"))
      << error_.ToString();
  EXPECT_EQ(batch_.column(0)->StringAt(0), "esc");
  EXPECT_EQ(batch_.column(8)->child(0)->StringAt(0), "linux");
  EXPECT_EQ(extra_.StringAt(0), R"({"a\"b":1})");
  ExpectError(R"({"id":"a","i\u0064":"b"})", ConversionErrorCode::kDuplicateField, "$.id");
  ExpectError(R"({"id":"a","device":{"os":"x","v\u0065r":"nine"}})",
              ConversionErrorCode::kTypeMismatch, "$.device.ver");

  ASSERT_TRUE(Convert(R"({"id":"n","n":-9223372036854775808,"small":2147483647,"score":0.1})"));
  EXPECT_EQ(batch_.column(1)->int64_data()[1], INT64_MIN);
  EXPECT_EQ(batch_.column(2)->int32_data()[1], 2147483647);
  EXPECT_EQ(batch_.column(3)->double_data()[1], 0.1);
  ASSERT_TRUE(Convert(R"({"id":"n","n":3.0,"small":-2147483648,"score":1.7976931348623157e308})"));
  EXPECT_EQ(batch_.column(1)->int64_data()[2], 3);
  EXPECT_EQ(batch_.column(2)->int32_data()[2], -2147483648);
  EXPECT_EQ(batch_.column(3)->double_data()[2], 1.7976931348623157e308);
  ASSERT_TRUE(Convert(R"({"id":"n","n":1e3,"score":-0.0,"price":0.005})"));
  EXPECT_EQ(batch_.column(1)->int64_data()[3], 1000);
  EXPECT_TRUE(std::signbit(batch_.column(3)->double_data()[3]));
  EXPECT_EQ(static_cast<int64_t>(batch_.column(7)->decimal_data()[3]), 1);  // exact digits
  ExpectError(R"({"id":"a","small":2147483648})", ConversionErrorCode::kOutOfRange, "$.small");
  ExpectError(R"({"id":"a","score":1e400})", ConversionErrorCode::kOutOfRange, "$.score");
  ExpectError(R"({"id":"a","n":9223372036854775808})", ConversionErrorCode::kOutOfRange, "$.n");
  EXPECT_EQ(batch_.rows(), 4u);
}

// Names that share their first bytes, in any key order, find their own column.
TEST(ConverterKeysTest, NamesWithACommonPrefix) {
  TableSchema s;
  s.database = "raw";
  s.name = "t";
  for (const char* name : {"attribute_one", "attribute_two", "attr", "attribute", "a"})
    s.columns.push_back(Column{name, *ParseType("string")});
  RecordConverter converter(&s);
  ColumnBatch batch(&s);
  ConversionError error;
  ASSERT_TRUE(converter.Convert(
      R"({"a":"5","attribute":"4","attr":"3","attribute_two":"2","attribute_one":"1","attribute_x":"no"})",
      &batch, nullptr, &error))
      << error.ToString();
  for (int c = 0; c < 5; ++c) EXPECT_EQ(batch.column(c)->StringAt(0), std::to_string(c + 1));
}

// Keys are compared 16 bytes at a time with the closing quote: names around
// those boundaries (7, 8, 15, 16, 17 and 26 bytes, each a prefix of the
// next) find their own column, and keys one byte longer or differing in the
// last byte are unknown.
TEST(ConverterKeysTest, NamesAroundTheWordBoundaries) {
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz";
  const std::vector<size_t> sizes = {7, 8, 15, 16, 17, 26};
  TableSchema s;
  s.database = "raw";
  s.name = "t";
  for (size_t n : sizes) s.columns.push_back(Column{alphabet.substr(0, n), *ParseType("string")});
  RecordConverter converter(&s);
  ColumnBatch batch(&s);
  ConversionError error;
  // Longest first, so that the expected column is never the hint.
  std::string json = "{";
  for (auto it = sizes.rbegin(); it != sizes.rend(); ++it) {
    const std::string name = alphabet.substr(0, *it);
    json += "\"" + name + "x\":\"longer\",\"" + name.substr(0, *it - 1) + "Z\":\"other\",";
    json += "\"" + name + "\":\"" + std::to_string(*it) + "\",";
  }
  json.back() = '}';
  ConverterOptions keep;
  keep.keep_unknown_fields = true;
  RecordConverter keeping(&s, keep);
  ColumnVector extra(RecordConverter::ExtraType());
  ASSERT_TRUE(converter.Convert(json, &batch, nullptr, &error)) << error.ToString();
  ASSERT_TRUE(keeping.Convert(json, &batch, &extra, &error)) << error.ToString();
  for (size_t c = 0; c < sizes.size(); ++c) {
    EXPECT_EQ(batch.column(c)->StringAt(0), std::to_string(sizes[c])) << sizes[c];
    EXPECT_EQ(batch.column(c)->StringAt(1), std::to_string(sizes[c])) << sizes[c];
  }
  // Every longer or differing key went to the unknown fields, none to a column.
  const std::string unknown(extra.StringAt(0));
  for (size_t n : sizes) {
    EXPECT_NE(unknown.find("\"" + alphabet.substr(0, n) + "x\":\"longer\""), std::string::npos);
    EXPECT_NE(unknown.find("\"" + alphabet.substr(0, n - 1) + "Z\":\"other\""), std::string::npos);
  }
}

// Objects of more than 64 fields track the fields they saw in memory of their
// own: a wide struct inside a wide table once cleared the table's record, so
// the fields before it were taken for missing (a second value appended to
// their columns) and a repeated key before it went unnoticed.
TEST(ConverterKeysTest, WideStructInsideAWideTable) {
  TableSchema s;
  s.database = "raw";
  s.name = "wide";
  std::string inner = "struct<";
  for (int f = 0; f < 70; ++f) inner += (f ? ",f" : "f") + std::to_string(f) + ":int";
  inner += ">";
  for (int c = 0; c < 70; ++c) {
    s.columns.push_back(Column{"c" + std::to_string(c), *ParseType("int")});
    if (c == 35) s.columns.push_back(Column{"inner", *ParseType(inner)});
  }
  std::string inner_json = "{";
  for (int f = 0; f < 70; ++f) inner_json += (f ? ",\"f" : "\"f") + std::to_string(f) + "\":1";
  inner_json += "}";
  std::string json = "{";
  for (int c = 0; c < 70; ++c) {
    json += "\"c" + std::to_string(c) + "\":" + std::to_string(c) + ",";
    if (c == 35) json += "\"inner\":" + inner_json + ",";
  }
  json.back() = '}';
  RecordConverter converter(&s);
  ColumnBatch batch(&s);
  ConversionError error;
  ASSERT_TRUE(converter.Convert(json, &batch, nullptr, &error)) << error.ToString();
  ASSERT_EQ(batch.rows(), 1u);
  for (size_t i = 0; i < batch.column_count(); ++i) {
    EXPECT_EQ(batch.column(i)->size(), 1u) << s.columns[i].name;
    if (s.columns[i].name[0] == 'c') {
      EXPECT_EQ(batch.column(i)->int32_data()[0], std::stoi(s.columns[i].name.substr(1)));
    }
  }
  std::string repeated = json;
  repeated.back() = ',';
  repeated += "\"c3\":3}";
  EXPECT_FALSE(converter.Convert(repeated, &batch, nullptr, &error));
  EXPECT_EQ(error.code, ConversionErrorCode::kDuplicateField);
  EXPECT_EQ(error.path, "$.c3");
  EXPECT_EQ(batch.rows(), 1u);
}

TEST_F(ConverterTest, ErrorToStringIsReadable) {
  ASSERT_FALSE(Convert(R"({"id":"a","device":{"ver":true}})"));
  EXPECT_EQ(error_.ToString(), "type_mismatch at $.device.ver: expected int, got a boolean");
}

}  // namespace
}  // namespace inlet::schema
