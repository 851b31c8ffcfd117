// Unit tests of the processor stages: validation categories, mapping,
// masking operators, POI index edges and the autoscaler's decisions.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <numbers>
#include <random>
#include <set>
#include <tuple>

#include "process/autoscaler.h"
#include "process/event_validator.h"
#include "process/field_mapper.h"
#include "process/masker.h"
#include "process/poi_index.h"
#include "process/presence_aggregator.h"

namespace inlet::process {
namespace {

schema::TableSchema EventsTable() {
  schema::TableSchema t;
  t.database = "raw";
  t.name = "events";
  auto col = [&](const char* name, const char* type) -> schema::Column& {
    t.columns.push_back({.name = name, .type = *schema::ParseType(type)});
    return t.columns.back();
  };
  col("user_id", "string").required = true;
  col("ts", "timestamp").required = true;
  auto& lat = col("lat", "double");
  lat.min = -90, lat.max = 90;
  col("lon", "double");
  auto& age = col("age", "int");
  age.min = 0, age.max = 120;
  col("birth_date", "date");
  col("gender", "string");
  col("event_type", "string").enum_values = {"location", "app_open"};
  col("email", "string").format = schema::StringFormat::kEmail;
  col("ip", "string").format = schema::StringFormat::kIpAddress;
  col("sent_at", "string").format = schema::StringFormat::kRfc3339;
  col("note", "string").max_length = 20;
  col("device", "struct<os:string,model:string>");
  return t;
}

struct ValidationCase {
  const char* json;
  ErrorCategory category;
  const char* path;
};

TEST(EventValidatorTest, EveryCategoryWithThePathOfTheFirstOffendingField) {
  schema::TableSchema table = EventsTable();
  EventValidator v(&table, 200);
  const ValidationCase cases[] = {
      {R"({"user_id":"u","ts":)", ErrorCategory::kMalformedJson, "$"},
      {R"([1,2])", ErrorCategory::kMalformedJson, "$"},
      {R"({"ts":"2024-01-01T00:00:00Z"})", ErrorCategory::kMissingField, "$.user_id"},
      {R"({"user_id":"u","ts":null})", ErrorCategory::kMissingField, "$.ts"},
      {R"({"user_id":"u","ts":"2024-01-01T00:00:00Z","lat":"north"})", ErrorCategory::kTypeMismatch,
       "$.lat"},
      {R"({"user_id":"u","ts":"2024-01-01T00:00:00Z","device":{"os":[1]}})",
       ErrorCategory::kTypeMismatch, "$.device.os"},
      {R"({"user_id":"u","ts":"2024-01-01T00:00:00Z","lat":91})", ErrorCategory::kOutOfRange,
       "$.lat"},
      {R"({"user_id":"u","ts":"2024-01-01T00:00:00Z","age":-1})", ErrorCategory::kOutOfRange,
       "$.age"},
      {R"({"user_id":"u","ts":"2024-01-01T00:00:00Z","event_type":"crash"})",
       ErrorCategory::kInvalidValue, "$.event_type"},
      {R"({"user_id":"u","ts":"2024-01-01T00:00:00Z","email":"not-an-email"})",
       ErrorCategory::kInvalidValue, "$.email"},
      {R"({"user_id":"u","ts":"2024-01-01T00:00:00Z","ip":"300.1.1.1"})",
       ErrorCategory::kInvalidValue, "$.ip"},
      {R"({"user_id":"u","ts":"2024-01-01T00:00:00Z","sent_at":"yesterday"})",
       ErrorCategory::kInvalidValue, "$.sent_at"},
      {R"({"user_id":"u","ts":"2024-02-30T00:00:00Z"})", ErrorCategory::kInvalidValue, "$.ts"},
      {R"({"user_id":"u","ts":"2024-01-01T00:00:00Z","note":"this note is far too long"})",
       ErrorCategory::kTooLarge, "$.note"},
      {R"({"user_id":"u","ts":"2024-01-01T00:00:00Z","note":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})",
       ErrorCategory::kTooLarge, "$"},
  };
  for (const auto& c : cases) {
    schema::ColumnBatch batch(&table);
    Rejection r;
    EXPECT_FALSE(v.Validate(c.json, &batch, &r)) << c.json;
    EXPECT_EQ(ErrorCategoryName(r.category), std::string(ErrorCategoryName(c.category)))
        << c.json << " " << r.message;
    EXPECT_EQ(r.path, c.path) << c.json;
    EXPECT_EQ(batch.rows(), 0u);
  }
  schema::ColumnBatch batch(&table);
  Rejection r;
  EXPECT_TRUE(v.Validate(
      R"({"user_id":"u","ts":"2024-01-01T00:00:00Z","lat":90,"age":120,"email":"a.b@example.org","ip":"2001:db8::1","event_type":"location","sent_at":"2024-01-01T00:00:00+02:00"})",
      &batch, &r))
      << r.message;
  EXPECT_EQ(batch.rows(), 1u);
}

// The IPv4 fast path (validation and truncate_ip) reads exactly what
// inet_pton reads: compared on edge cases and 200k random strings.
TEST(EventValidatorTest, ParseIpv4AgreesWithInetPton) {
  auto same = [](const std::string& s) {
    uint8_t mine[4] = {}, libc[4] = {};
    const bool ok = ParseIpv4(s, mine);
    const bool want = inet_pton(AF_INET, s.c_str(), libc) == 1;
    if (ok != want)
      return ::testing::AssertionFailure() << "'" << s << "': " << ok << " vs " << want;
    if (ok && std::memcmp(mine, libc, 4) != 0) return ::testing::AssertionFailure() << s;
    return ::testing::AssertionSuccess();
  };
  for (const char* s : {"0.0.0.0",   "255.255.255.255", "1.2.3.4",    "01.2.3.4",  "1.2.3.04",
                        "1.2.3.256", "1.2.3",           "1.2.3.4.",   ".1.2.3.4",  "1..2.3",
                        "1.2.3.4 ",  " 1.2.3.4",        "1.2.3.0004", "999.1.1.1", "1.2.3.-4",
                        "1.2.3.4x",  "0x1.2.3.4",       "",           "1.2.3.4.5", "10.0.0.1"}) {
    EXPECT_TRUE(same(s));
  }
  uint8_t out[4];
  ASSERT_TRUE(ParseIpv4("203.0.113.7", out));
  EXPECT_EQ(out[0], 203);
  EXPECT_EQ(out[3], 7);
  std::mt19937 rng(5);
  const std::string alphabet = "0123456789....0125 x";
  for (int i = 0; i < 200000; ++i) {
    std::string s(rng() % 18, ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    ASSERT_TRUE(same(s));
  }
}

TEST(EventValidatorTest, FormatChecks) {
  EXPECT_TRUE(IsIpAddress("10.0.0.1"));
  EXPECT_TRUE(IsIpAddress("::1"));
  EXPECT_FALSE(IsIpAddress("10.0.0"));
  EXPECT_TRUE(IsEmailAddress("x@y.io"));
  EXPECT_FALSE(IsEmailAddress("x@y"));
  EXPECT_FALSE(IsEmailAddress("x y@z.com"));
  EXPECT_TRUE(IsEmailAddress("first.last+tag@mail.example.co"));
  EXPECT_FALSE(IsEmailAddress("a@b@c.com"));
  EXPECT_FALSE(IsEmailAddress("@example.com"));
  EXPECT_FALSE(IsEmailAddress("a@example..com"));
  EXPECT_FALSE(IsEmailAddress("a@-example.com"));
  EXPECT_FALSE(IsEmailAddress("a@example."));
  EXPECT_FALSE(IsEmailAddress("a@.com"));
  EXPECT_FALSE(IsEmailAddress("a<b@example.com"));
  EXPECT_FALSE(IsEmailAddress("a\\b@example.com"));
  EXPECT_FALSE(IsEmailAddress(std::string("a\x7f@example.com")));
  EXPECT_FALSE(IsEmailAddress(std::string(65, 'a') + "@example.com"));
  EXPECT_TRUE(IsEmailAddress(std::string(64, 'a') + "@example.com"));
  EXPECT_TRUE(IsRfc3339("2024-03-01T10:00:00.5Z"));
  EXPECT_FALSE(IsRfc3339("2024-03-01"));
  EXPECT_TRUE(IsUuid("123e4567-e89b-12d3-a456-426614174000"));
  EXPECT_FALSE(IsUuid("123e4567e89b12d3a456426614174000"));
}

TEST(FieldMapperTest, FlattensNestedFieldsDerivesAgeAndGender) {
  schema::TableSchema table = EventsTable();
  std::vector<FieldMapping> mapping = {
      {"user", "$.user_id"},
      {"ts", "ts"},
      {"os", ".device.os"},
      {"age", "$.age", Derive::kAge, "$.birth_date"},
      {"gender", "$.gender", Derive::kGender},
  };
  auto m = FieldMapper::Create(table, mapping, "ts");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EventValidator v(&table, 1 << 20);
  schema::ColumnBatch batch(&table);
  Rejection r;
  ASSERT_TRUE(v.Validate(
      R"({"user_id":"u1","ts":"2024-06-10T00:00:00Z","birth_date":"1990-06-11","gender":" Woman ","device":{"os":"ios","model":"x"},"lat":1})",
      &batch, &r));
  ASSERT_TRUE(v.Validate(
      R"({"user_id":"u2","ts":"2024-06-10T00:00:00Z","age":41,"birth_date":"1990-06-11","gender":"1"})",
      &batch, &r));
  ASSERT_TRUE(
      v.Validate(R"({"user_id":"u3","ts":"2024-06-10T00:00:00Z","gender":"x"})", &batch, &r));
  FlatRow row;
  (*m)->Map(batch, 0, &row);
  ASSERT_EQ(row.values.size(), 5u);  // lat is not mapped: dropped
  EXPECT_EQ(row.values[0].s, "u1");
  EXPECT_EQ(row.values[2].s, "ios");
  EXPECT_EQ(row.values[3].i, 33);  // one day before the 34th birthday
  EXPECT_EQ(row.values[4].s, "female");
  (*m)->Map(batch, 1, &row);
  EXPECT_EQ(row.values[3].i, 41);  // the age field wins over the birth date
  EXPECT_EQ(row.values[4].s, "male");
  EXPECT_FALSE(row.values[2].valid);
  (*m)->Map(batch, 2, &row);
  EXPECT_FALSE(row.values[3].valid);
  EXPECT_EQ(row.values[4].s, "unknown");
  EXPECT_FALSE(
      FieldMapper::Create(table, {{"x", "$.device"}}, "").ok());  // a struct is not a flat column
  EXPECT_FALSE(FieldMapper::Create(table, {{"x", "$.nope"}}, "").ok());
}

TEST(FieldMapperTest, GenderVocabulary) {
  for (const char* f : {"F", "female", "WOMAN", "w", "2"})
    EXPECT_EQ(NormalizeGender(f), "female") << f;
  for (const char* m : {"M", "Male", "man", "1"}) EXPECT_EQ(NormalizeGender(m), "male") << m;
  for (const char* u : {"0", "", "x", "femalee", "nonbinary"})
    EXPECT_EQ(NormalizeGender(u), "unknown") << u;
}

TEST(AgeBandsTest, Labels) {
  AgeBands b({18, 25, 65});
  EXPECT_EQ(b.labels()[b.Band(std::nullopt)], "unknown");
  EXPECT_EQ(b.labels()[b.Band(0)], "0-17");
  EXPECT_EQ(b.labels()[b.Band(17)], "0-17");
  EXPECT_EQ(b.labels()[b.Band(18)], "18-24");
  EXPECT_EQ(b.labels()[b.Band(64)], "25-64");
  EXPECT_EQ(b.labels()[b.Band(130)], "65+");
}

TEST(BoundedMemoTest, ComputesEachValueOnceAndKeepsTheValuesInUseWithinItsBound) {
  BoundedMemo<std::string> memo(2);
  int computed = 0;
  auto upper = [&](std::string_view v) {
    ++computed;
    std::string s(v);
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  };
  EXPECT_EQ(memo.Get("a", upper), "A");
  EXPECT_EQ(memo.Get("b", upper), "B");
  EXPECT_EQ(memo.Get("a", upper), "A");
  EXPECT_EQ(computed, 2);
  EXPECT_EQ(memo.Get("c", upper), "C");  // full: {a, b} becomes the old generation
  EXPECT_EQ(memo.Get("a", upper), "A");  // found in the old one, moved back
  EXPECT_EQ(computed, 3);
  EXPECT_EQ(memo.Get("d", upper), "D");  // full again: {c, a} is old, b is gone
  EXPECT_EQ(memo.Get("b", upper), "B");
  EXPECT_EQ(computed, 5);
}

TEST(MaskerTest, Operators) {
  EXPECT_EQ(HmacSha256Hex("key", "alice"), HmacSha256Hex("key", "alice"));
  EXPECT_NE(HmacSha256Hex("key", "alice"), HmacSha256Hex("key2", "alice"));
  EXPECT_EQ(HmacSha256Hex("key", "alice").size(), 32u);
  // RFC 4231 test case 2 (first 32 hex digits).
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c7");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(PartialMask("4111111111111111", 0, 4), "************1111");
  EXPECT_EQ(PartialMask("alice", 1, 1), "a***e");
  EXPECT_EQ(PartialMask("ab", 1, 1), "**");
  EXPECT_EQ(PartialMask("élodie", 2, 0), "él****");
  EXPECT_EQ(TruncateIp("192.168.7.9", 24, 48), "192.168.7.0");
  EXPECT_EQ(TruncateIp("10.0.255.99", 16, 48), "10.0.0.0");
  EXPECT_EQ(TruncateIp("203.99.100.250", 30, 48), "203.99.100.248");
  EXPECT_EQ(TruncateIp("255.255.255.255", 32, 48), "255.255.255.255");
  EXPECT_EQ(TruncateIp("2001:db8:abcd:12::1", 24, 48), "2001:db8:abcd::");
  EXPECT_FALSE(TruncateIp("nope", 24, 48).has_value());
  const int64_t t = 1'700'000'123'456'789;  // 2023-11-14T22:15:23.456789Z
  EXPECT_EQ(TruncateTime(t, "hour"), 1'699'999'200'000'000);
  EXPECT_EQ(TruncateTime(t, "day"), 1'699'920'000'000'000);
  EXPECT_EQ(TruncateTime(-1, "second"), -1'000'000);
  double lat = 40.7128, lon = -74.0060;
  CoarsenLocation(1000, &lat, &lon);
  EXPECT_LT(HaversineMeters(lat, lon, 40.7128, -74.0060), 1000);
  double lat2 = 40.7130, lon2 = -74.0062;
  CoarsenLocation(1000, &lat2, &lon2);
  EXPECT_EQ(lat, lat2);  // nearby points share a cell
  EXPECT_EQ(lon, lon2);
  EXPECT_TRUE(LuhnValid("4111 1111 1111 1111"));
  EXPECT_FALSE(LuhnValid("4111 1111 1111 1112"));
  EXPECT_TRUE(IbanValid("GB82 WEST 1234 5698 7654 32"));
  EXPECT_FALSE(IbanValid("GB82 WEST 1234 5698 7654 33"));
}

TEST(MaskerTest, DetectsPiiInFreeText) {
  PiiDetector d;
  std::string text =
      "mail bob.smith@example.com, card 4111 1111 1111 1111, not a card 4111 1111 1111 1112, "
      "iban GB82 WEST 1234 5698 7654 32, call +1 (212) 555-0199 at 10";
  EXPECT_EQ(d.Redact(&text), 4);
  EXPECT_EQ(
      text,
      "mail <EMAIL>, card <CARD>, not a card 4111 1111 1111 1112, iban <IBAN>, call <PHONE> at 10");
}

TEST(MaskerTest, RulesChangeCuratedTypesAndRecordTheKeyId) {
  std::vector<FlatColumn> cols = {
      {"user", FlatType::kString}, {"age", FlatType::kBigint},   {"ts", FlatType::kTimestamp},
      {"lat", FlatType::kDouble},  {"lon", FlatType::kDouble},   {"email", FlatType::kString},
      {"ip", FlatType::kString},   {"phone", FlatType::kString}, {"name", FlatType::kString},
      {"note", FlatType::kString}, {"city", FlatType::kString}};
  MaskingConfig mc;
  mc.key_id = "k1";
  auto rule = [](const char* c, MaskOp op) {
    MaskRule r;
    r.column = c, r.op = op;
    return r;
  };
  mc.rules = {rule("user", MaskOp::kPseudonym),  rule("age", MaskOp::kGeneralizeAge),
              rule("ts", MaskOp::kTruncateTime), rule("lat", MaskOp::kCoarsenLocation),
              rule("email", MaskOp::kHash),      rule("ip", MaskOp::kTruncateIp),
              rule("phone", MaskOp::kPartial),   rule("name", MaskOp::kDrop),
              rule("note", MaskOp::kDetectPii),  rule("city", MaskOp::kReplace)};
  mc.rules[3].lon_column = "lon";
  mc.rules[3].grid_m = 500;
  mc.rules[9].with = "REDACTED";
  auto m = Masker::Create(mc, cols, {18, 30}, "0123456789abcdef0123");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const auto& out = (*m)->output_columns();
  ASSERT_EQ(out.size(), 11u);  // name dropped, _key_id added
  EXPECT_EQ(out[1].type, FlatType::kString);
  EXPECT_EQ(out.back().name, "_key_id");
  EXPECT_EQ((*m)->key_id(), "k1");
  FlatRow row;
  row.values.resize(cols.size());
  row.values[0].SetString("alice");
  row.values[1].SetInt(29);
  row.values[2].SetInt(1'700'000'123'456'789);
  row.values[3].SetDouble(40.7);
  row.values[4].SetDouble(-74.0);
  row.values[5].SetString("a@b.com");
  row.values[6].SetString("10.1.2.3");
  row.values[7].SetString("5551234567");
  row.values[8].SetString("Alice Smith");
  row.values[9].SetString("write to a@b.com");
  row.values[10].SetString("Paris");
  (*m)->Apply(&row);
  EXPECT_EQ(row.values[0].s, HmacSha256Hex("0123456789abcdef0123", "alice"));
  EXPECT_EQ(row.values[1].s, "18-29");
  EXPECT_EQ(row.values[2].i, 1'699'999'200'000'000);
  EXPECT_NE(row.values[3].d, 40.7);
  EXPECT_EQ(row.values[5].s, Sha256Hex("a@b.com"));
  EXPECT_EQ(row.values[6].s, "10.1.2.0");
  EXPECT_EQ(row.values[7].s, "******4567");
  EXPECT_FALSE(row.values[8].valid);
  EXPECT_EQ(row.values[9].s, "write to <EMAIL>");
  EXPECT_EQ(row.values[10].s, "REDACTED");
  // A pseudonym without a key is a configuration error.
  EXPECT_FALSE(Masker::Create(mc, cols, {18}, "").ok());
}

// Pseudonyms and hashes are written over the value in place: from the memo
// (second row) as from the HMAC (first), and for numbers as their text.
TEST(MaskerTest, PseudonymAndHashReplaceTheValueInPlace) {
  std::vector<FlatColumn> cols = {
      {"user", FlatType::kString}, {"account", FlatType::kBigint}, {"email", FlatType::kString}};
  MaskingConfig mc;
  auto rule = [](const char* c, MaskOp op) {
    MaskRule r;
    r.column = c, r.op = op;
    return r;
  };
  mc.rules = {rule("user", MaskOp::kPseudonym), rule("account", MaskOp::kPseudonym),
              rule("email", MaskOp::kHash)};
  auto m = Masker::Create(mc, cols, {18}, "key-of-the-test");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  for (int pass = 0; pass < 2; ++pass) {
    FlatRow row;
    row.values.resize(cols.size());
    row.values[0].SetString("a-user-id-longer-than-the-32-hex-digits-of-a-pseudonym");
    row.values[1].SetInt(42);
    row.values[2].SetString("x@y.org");
    (*m)->Apply(&row);
    EXPECT_EQ(
        row.values[0].s,
        HmacSha256Hex("key-of-the-test", "a-user-id-longer-than-the-32-hex-digits-of-a-pseudonym"))
        << pass;
    EXPECT_EQ(row.values[1].s, HmacSha256Hex("key-of-the-test", "42")) << pass;
    EXPECT_TRUE(row.values[1].valid);
    EXPECT_EQ(row.values[2].s, Sha256Hex("x@y.org")) << pass;
  }
}

std::vector<uint32_t> Find(const PoiIndex& index, double lat, double lon) {
  std::vector<uint32_t> out;
  index.Find(lat, lon, &out);
  std::sort(out.begin(), out.end());
  return out;
}

// A point `meters` north of (lat, lon) along the meridian.
double North(double lat, double meters) {
  return lat + meters / kEarthRadiusMeters * 180.0 / std::numbers::pi;
}

TEST(PoiIndexTest, RadiusEdgesAntimeridianPolesAndOverlaps) {
  std::vector<Poi> pois = {
      {"nyc", "NYC", 40.7128, -74.0060, 100, ""},
      {"nyc-big", "NYC big", 40.7128, -74.0060, 1000, ""},
      {"fiji", "antimeridian", -16.5, 179.9995, 200, ""},
      {"north", "pole", 90, 0, 500, ""},
      {"south", "pole", -89.999, 45, 300, ""},
  };
  auto index = PoiIndex::Build(pois);
  ASSERT_TRUE(index.ok());
  const PoiIndex& ix = **index;
  EXPECT_EQ(Find(ix, 40.7128, -74.0060), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(Find(ix, North(40.7128, 99.9), -74.0060), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(Find(ix, North(40.7128, 100.1), -74.0060), (std::vector<uint32_t>{1}));
  EXPECT_EQ(Find(ix, North(40.7128, 999.9), -74.0060), (std::vector<uint32_t>{1}));
  EXPECT_TRUE(Find(ix, North(40.7128, 1000.1), -74.0060).empty());
  // Across the antimeridian: 179.9995 + 0.0015 degrees wraps to -179.999.
  double d = HaversineMeters(-16.5, 179.9995, -16.5, -179.9990);
  ASSERT_LT(d, 200);
  EXPECT_EQ(Find(ix, -16.5, -179.9990), (std::vector<uint32_t>{2}));
  EXPECT_TRUE(Find(ix, -16.5, -179.997).empty());
  // Poles: any longitude near the north pole.
  EXPECT_EQ(Find(ix, North(90 - 0.004, 0), 123.0), (std::vector<uint32_t>{3}));  // ~445 m away
  EXPECT_TRUE(Find(ix, 89.995, -60.0).empty());                                  // ~556 m away
  EXPECT_EQ(Find(ix, -89.999, 45.001), (std::vector<uint32_t>{4}));
  EXPECT_EQ(Find(ix, -90, 0), (std::vector<uint32_t>{4}));  // the pole itself, 111 m away
  EXPECT_TRUE(Find(ix, -89.996, -135.0).empty());           // across the pole, ~555 m away
}

TEST(PoiIndexTest, FindAllAnswersAsFindAndTheHaversineFormula) {
  // Radii from 20 m to 5 km: POIs on several cell levels; points inside,
  // between and far from them.
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> lat(40.60, 40.80), lon(-74.05, -73.85);
  std::vector<Poi> pois;
  for (int i = 0; i < 3000; ++i) {
    const double radius = i % 100 == 0 ? 5000 : i % 10 == 0 ? 800 : 20 + i % 300;
    pois.push_back({"p" + std::to_string(i), "", lat(rng), lon(rng), radius, ""});
  }
  auto index = PoiIndex::Build(pois);
  ASSERT_TRUE(index.ok());
  const PoiIndex& ix = **index;
  ASSERT_GE(ix.level_count(), 3u);
  for (size_t n : {0, 1, 5, 2000}) {
    std::vector<PoiIndex::LatLon> points;
    for (size_t i = 0; i < n; ++i) {
      points.push_back(i % 7 == 0 ? PoiIndex::LatLon{-33.9, 151.2}  // far from every POI
                                  : PoiIndex::LatLon{lat(rng), lon(rng)});
    }
    std::vector<uint32_t> hits = {99}, offsets;  // hits are appended
    ix.FindAll(points, &hits, &offsets);
    ASSERT_EQ(offsets.size(), n + 1);
    EXPECT_EQ(offsets.front(), 1u);
    size_t found = 0;
    for (size_t i = 0; i < n; ++i) {
      std::vector<uint32_t> one;
      ix.Find(points[i].lat, points[i].lon, &one);
      ASSERT_EQ(std::vector<uint32_t>(hits.begin() + offsets[i], hits.begin() + offsets[i + 1]),
                one)
          << "point " << i;
      std::sort(one.begin(), one.end());
      std::vector<uint32_t> brute;
      bool edge = false;
      for (uint32_t p = 0; p < pois.size(); ++p) {
        const double d = HaversineMeters(points[i].lat, points[i].lon, pois[p].lat, pois[p].lon);
        edge |= std::abs(d - pois[p].radius_m) < 0.01;
        if (d <= pois[p].radius_m) brute.push_back(p);
      }
      if (!edge) {
        EXPECT_EQ(one, brute) << "point " << i;
      }
      found += one.size();
    }
    EXPECT_EQ(offsets.back(), hits.size());
    if (n == 2000) {
      EXPECT_GT(found, n);  // many points are in several POIs
    }
  }
}

TEST(PoiIndexTest, LoadsCsvAndGeoJson) {
  auto csv = ParsePoiCsv(
      "id,name,lat,lon,radius_m,category\n1,\"A, the first\",1.5,2.5,50,park\n2,B,3,4,,\n", 75);
  ASSERT_TRUE(csv.ok()) << csv.status().ToString();
  ASSERT_EQ(csv->size(), 2u);
  EXPECT_EQ((*csv)[0].name, "A, the first");
  EXPECT_EQ((*csv)[1].radius_m, 75);
  EXPECT_FALSE(ParsePoiCsv("id,lat,lon\n1,95,0\n", 10).ok());
  auto geo = ParsePoiGeoJson(
      R"({"type":"FeatureCollection","features":[{"type":"Feature","id":"node/1","properties":{"name":"Tower","radius_m":30},"geometry":{"type":"Point","coordinates":[-122.4,37.8]}},{"type":"Feature","properties":{},"geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]}}]})",
      100);
  ASSERT_TRUE(geo.ok()) << geo.status().ToString();
  ASSERT_EQ(geo->size(), 1u);
  EXPECT_EQ((*geo)[0].id, "node/1");
  EXPECT_EQ((*geo)[0].lat, 37.8);
  EXPECT_EQ((*geo)[0].radius_m, 30);
}

TEST(AutoscalerTest, TargetTrackingWithCooldowns) {
  AutoscaleConfig c;
  c.min_workers = 1;
  c.max_workers = 4;
  c.target_backlog_per_worker = 100;
  c.scale_out_cooldown = std::chrono::milliseconds(1000);
  c.scale_in_cooldown = std::chrono::milliseconds(5000);
  Autoscaler a(c);
  EXPECT_EQ(a.Evaluate(0, 50, 1).direction, 0);
  auto d = a.Evaluate(100, 250, 1);
  EXPECT_EQ(d.direction, 1);
  EXPECT_EQ(d.desired, 3u);
  EXPECT_EQ(a.Evaluate(500, 10'000, 3).direction, 0);  // scale-out cooldown
  d = a.Evaluate(1100, 10'000, 3);
  EXPECT_EQ(d.desired, 4u);                        // clamped to max
  EXPECT_EQ(a.Evaluate(3000, 0, 4).direction, 0);  // scale-in cooldown after scaling
  d = a.Evaluate(6200, 0, 4);
  EXPECT_EQ(d.direction, -1);
  EXPECT_EQ(d.desired, 1u);
}

TEST(PresenceAggregatorTest, DistinctPersonsWindowsAndLateEvents) {
  auto index = PoiIndex::Build({{"p", "P", 0, 0, 100, ""}, {"q", "Q", 0, 0.0005, 100, ""}});
  ASSERT_TRUE(index.ok());
  AggregateConfig c;
  c.window = std::chrono::seconds(60);
  c.allowed_lateness = std::chrono::seconds(10);
  PresenceAggregator agg(index->get(), c, 4);
  const int64_t s = 1'000'000;
  std::vector<PresenceInput> in = {
      {0 * s, 0, 0, 1, 1, 7},
      {5 * s, 0, 0, 1, 1, 7},       // same person twice in P and Q
      {6 * s, 0, 0.0012, 1, 1, 8},  // only Q (78 m from Q, 133 m from P)
      {61 * s, 0, 0, 2, 2, 9},      // next window
  };
  std::vector<uint8_t> late(in.size());
  agg.Add(in, late);
  EXPECT_TRUE(agg.TakeReady(false, 0).empty());  // watermark 51 s: window 0 still open
  std::vector<PresenceInput> more = {
      {71 * s, 1, 1, 0, 0, 10}};  // no POI, advances the watermark to 61 s
  std::vector<uint8_t> late2(1);
  agg.Add(more, late2);
  auto w = agg.TakeReady(false, 0);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].start_us, 0);
  ASSERT_EQ(w[0].rows.size(), 2u);
  EXPECT_EQ(w[0].rows[0].poi, 0u);
  EXPECT_EQ(w[0].rows[0].persons, 1u);
  EXPECT_EQ(w[0].rows[0].events, 2u);
  EXPECT_EQ(w[0].rows[1].poi, 1u);
  EXPECT_EQ(w[0].rows[1].persons, 2u);
  EXPECT_EQ(w[0].rows[1].events, 3u);
  std::vector<PresenceInput> old = {{30 * s, 0, 0, 1, 1, 11}};
  std::vector<uint8_t> late3(1);
  agg.Add(old, late3);
  EXPECT_EQ(late3[0], 1);
  auto rest = agg.TakeReady(true, 0);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].rows.size(), 2u);
}

TEST(PresenceAggregatorTest, ManyCellsComeOutSortedWithExactSums) {
  // 3000 POIs on a grid far apart, bands and genders mixed: tens of
  // thousands of cells in one window across 16 shards.
  std::vector<Poi> pois;
  for (int i = 0; i < 3000; ++i)
    pois.push_back({"p", "", (i / 60) * 0.01, (i % 60) * 0.01, 50, ""});
  auto index = PoiIndex::Build(pois);
  ASSERT_TRUE(index.ok());
  AggregateConfig c;
  c.window = std::chrono::seconds(60);
  PresenceAggregator agg(index->get(), c);
  std::mt19937_64 rng(5);
  std::vector<PresenceInput> in;
  std::map<std::tuple<uint32_t, uint8_t, uint8_t>, std::pair<std::set<uint64_t>, uint64_t>> oracle;
  for (int i = 0; i < 60000; ++i) {
    const uint32_t poi = static_cast<uint32_t>(rng() % pois.size());
    PresenceInput e{.time_us = static_cast<int64_t>(rng() % 60) * 1'000'000,
                    .lat = pois[poi].lat,
                    .lon = pois[poi].lon,
                    .band = static_cast<uint8_t>(rng() % 8),
                    .gender = static_cast<uint8_t>(rng() % 3),
                    .person = rng() % 20000};
    in.push_back(e);
    auto& [persons, events] = oracle[{poi, e.band, e.gender}];
    persons.insert(e.person);
    ++events;
  }
  std::vector<uint8_t> late(in.size());
  agg.Add(in, late);
  auto windows = agg.TakeReady(true, 0);
  ASSERT_EQ(windows.size(), 1u);
  const auto& rows = windows[0].rows;
  ASSERT_EQ(rows.size(), oracle.size());
  ASSERT_GT(rows.size(), 10000u);
  size_t k = 0;
  for (const auto& [key, value] : oracle) {  // std::map: in (poi, band, gender) order
    const PresenceRow& r = rows[k++];
    ASSERT_EQ(std::make_tuple(r.poi, r.band, r.gender), key) << "row " << k - 1;
    EXPECT_EQ(r.persons, value.first.size());
    EXPECT_EQ(r.events, value.second);
  }
}

TEST(PresenceAggregatorTest, OpenWindowLimitClosesTheOldestEarly) {
  auto index = PoiIndex::Build({{"p", "P", 0, 0, 100, ""}});
  ASSERT_TRUE(index.ok());
  AggregateConfig c;
  c.window = std::chrono::seconds(1);
  c.allowed_lateness = std::chrono::hours(1);
  c.max_open_windows = 2;
  PresenceAggregator agg(index->get(), c, 2);
  std::vector<PresenceInput> in;
  for (int i = 0; i < 5; ++i) in.push_back({i * 1'000'000LL, 0, 0, 0, 0, static_cast<uint64_t>(i)});
  std::vector<uint8_t> late(in.size());
  agg.Add(in, late);
  auto w = agg.TakeReady(false, 0);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_TRUE(w[0].forced);
  EXPECT_EQ(agg.Stats().open_windows, 2u);
  EXPECT_EQ(agg.Stats().forced_windows, 3u);
}

}  // namespace
}  // namespace inlet::process
