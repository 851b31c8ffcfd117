#include "schema/table_schema.h"

#include <gtest/gtest.h>

namespace inlet::schema {
namespace {

std::string RoundTrip(std::string_view text) {
  auto t = ParseType(text);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? (*t)->ToString() : "";
}

TEST(ParseTypeTest, Primitives) {
  EXPECT_EQ(RoundTrip("string"), "string");
  EXPECT_EQ(RoundTrip("BIGINT"), "bigint");
  EXPECT_EQ(RoundTrip("int"), "int");
  EXPECT_EQ(RoundTrip("integer"), "int");
  EXPECT_EQ(RoundTrip("double"), "double");
  EXPECT_EQ(RoundTrip("boolean"), "boolean");
  EXPECT_EQ(RoundTrip("timestamp"), "timestamp");
  EXPECT_EQ(RoundTrip("date"), "date");
  EXPECT_EQ(RoundTrip("decimal(10,2)"), "decimal(10,2)");
  EXPECT_EQ(RoundTrip("decimal"), "decimal(10,0)");
  EXPECT_EQ(RoundTrip(" decimal ( 38 , 0 ) "), "decimal(38,0)");
}

TEST(ParseTypeTest, Nested) {
  EXPECT_EQ(RoundTrip("struct<a:int, b : array<string>>"), "struct<a:int,b:array<string>>");
  EXPECT_EQ(RoundTrip("map<string,struct<x:double,y:double>>"),
            "map<string,struct<x:double,y:double>>");
  EXPECT_EQ(RoundTrip("array<array<map<int,decimal(5,1)>>>"),
            "array<array<map<int,decimal(5,1)>>>");
  EXPECT_EQ(RoundTrip("struct<`odd name`:int>"), "struct<`odd name`:int>");
  auto t = ParseType("struct<os:string,geo:struct<lat:double,lon:double>>");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->kind, TypeKind::kStruct);
  ASSERT_EQ((*t)->fields.size(), 2u);
  EXPECT_EQ((*t)->fields[1].name, "geo");
  EXPECT_EQ((*t)->fields[1].type->fields[0].type->kind, TypeKind::kDouble);
}

TEST(ParseTypeTest, ErrorsNameThePosition) {
  struct Case {
    const char* text;
    const char* needle;
  };
  for (const Case& c :
       {Case{"strin", "unknown type 'strin'"}, Case{"array<int", "expected '>'"},
        Case{"map<array<int>,int>", "map keys must be a primitive"},
        Case{"decimal(40,2)", "precision must be 1..38"},
        Case{"decimal(5,6)", "scale must be 0..precision"}, Case{"struct<>", "at least one field"},
        Case{"struct<a:int,a:string>", "duplicate struct field 'a'"},
        Case{"int extra", "unexpected trailing text at position 4"},
        Case{"", "expected a type name"}}) {
    auto t = ParseType(c.text);
    ASSERT_FALSE(t.ok()) << c.text;
    EXPECT_NE(t.status().message().find(c.needle), std::string::npos)
        << c.text << " -> " << t.status().message();
    EXPECT_NE(t.status().message().find("position"), std::string::npos) << t.status().message();
  }
}

TEST(ParseStringFormatTest, KnownAndUnknown) {
  EXPECT_EQ(*ParseStringFormat("rfc3339"), StringFormat::kRfc3339);
  EXPECT_EQ(*ParseStringFormat("date-time"), StringFormat::kRfc3339);
  EXPECT_EQ(*ParseStringFormat("ip"), StringFormat::kIpAddress);
  EXPECT_EQ(*ParseStringFormat("email"), StringFormat::kEmail);
  EXPECT_EQ(*ParseStringFormat("uuid"), StringFormat::kUuid);
  auto bad = ParseStringFormat("phone");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("phone"), std::string::npos);
}

TEST(TableSchemaTest, FindColumn) {
  TableSchema s;
  s.columns.push_back(Column{"a", *ParseType("int")});
  s.columns.push_back(Column{"b", *ParseType("string")});
  ASSERT_NE(s.FindColumn("b"), nullptr);
  EXPECT_EQ(s.FindColumn("b")->type->kind, TypeKind::kString);
  EXPECT_EQ(s.FindColumn("c"), nullptr);
}

}  // namespace
}  // namespace inlet::schema
