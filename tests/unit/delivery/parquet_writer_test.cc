#include "delivery/parquet_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "duckdb_reader.h"
#include "schema/json_converter.h"
#include "support/test_support.h"

namespace inlet::delivery {
namespace {

using testing::DuckDbReader;

schema::TableSchema NestedSchema() {
  schema::TableSchema s;
  s.name = "nested";
  auto add = [&](const char* name, const char* type) {
    s.columns.push_back(schema::Column{name, *schema::ParseType(type)});
  };
  add("id", "string");
  add("n", "bigint");
  add("i", "int");
  add("d", "double");
  add("b", "boolean");
  add("ts", "timestamp");
  add("day", "date");
  add("small_dec", "decimal(4,1)");
  add("dec", "decimal(10,2)");
  add("big_dec", "decimal(38,3)");
  add("device", "struct<os:string,geo:struct<lat:double,lon:double>>");
  add("tags", "array<string>");
  add("nested", "array<array<int>>");
  add("attrs", "map<string,bigint>");
  add("points", "array<struct<x:int,y:int>>");
  return s;
}

std::string ParquetPath(const ::inlet::testing::TempDir& dir, const char* name) {
  return (dir.path() / name).string();
}

TEST(ParquetWriterTest, SchemaAndValuesRoundTripWithNestedTypes) {
  ::inlet::testing::TempDir dir;
  schema::TableSchema table = NestedSchema();
  schema::RecordConverter converter(&table);
  schema::ColumnBatch batch(&table);
  schema::ConversionError error;
  const char* events[] = {
      R"({"id":"a","n":1,"i":2,"d":0.5,"b":true,"ts":"2024-01-02T03:04:05.123456Z","day":"2024-01-02",
          "small_dec":"12.3","dec":"-1.25","big_dec":"12345678901234567890123456789.123",
          "device":{"os":"ios","geo":{"lat":48.85,"lon":2.35}},"tags":["x","y"],"nested":[[1],[2,3]],
          "attrs":{"k":7},"points":[{"x":1,"y":2}]})",
      R"({"id":"b"})",
      R"({"id":"c","tags":[],"device":{"os":null},"nested":[[],null],"attrs":{},"points":[null]})",
  };
  for (const char* e : events)
    ASSERT_TRUE(converter.Convert(e, &batch, nullptr, &error)) << error.ToString();
  // Many rows force several DuckDB chunks (2048 rows each) and list offsets across them.
  for (int k = 0; k < 5000; ++k) {
    std::string e = R"({"id":"r)" + std::to_string(k) + R"(","n":)" + std::to_string(k) +
                    R"(,"tags":["t)" + std::to_string(k) + R"("],"attrs":{"a":)" +
                    std::to_string(k) + "}}";
    ASSERT_TRUE(converter.Convert(e, &batch, nullptr, &error)) << error.ToString();
  }
  std::vector<WriteColumn> columns;
  for (size_t c = 0; c < table.columns.size(); ++c)
    columns.push_back({table.columns[c].name, batch.column(c)});
  std::vector<uint32_t> rows(batch.rows());
  std::iota(rows.begin(), rows.end(), 0);
  auto writer = ParquetWriter::Create();
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  std::string path = ParquetPath(dir, "all.parquet");
  auto size = (*writer)->Write(
      columns, rows, ParquetOptions{.compression = Compression::kZstd, .row_group_rows = 4096},
      path);
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_GT(*size, 0u);

  DuckDbReader db;
  // The Parquet schema is the table schema, nested types included.
  auto described = db.Query("DESCRIBE SELECT * FROM read_parquet('" + path + "')");
  ASSERT_EQ(described.size(), table.columns.size());
  for (size_t c = 0; c < table.columns.size(); ++c) {
    EXPECT_EQ(described[c][0], table.columns[c].name);
    EXPECT_EQ(described[c][1], ParquetWriter::DuckDbTypeName(*table.columns[c].type))
        << table.columns[c].name;
  }
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM '" + path + "'"), "5003");
  auto first = db.Query(
      "SELECT id, n, i, d, b, ts, day, small_dec, dec, big_dec, device::VARCHAR, tags::VARCHAR, "
      "nested::VARCHAR, attrs::VARCHAR, points::VARCHAR FROM '" +
      path + "' WHERE id = 'a'");
  ASSERT_EQ(first.size(), 1u);
  std::vector<std::string> expected = {"a",
                                       "1",
                                       "2",
                                       "0.5",
                                       "true",
                                       "2024-01-02 03:04:05.123456",
                                       "2024-01-02",
                                       "12.3",
                                       "-1.25",
                                       "12345678901234567890123456789.123",
                                       "{'os': ios, 'geo': {'lat': 48.85, 'lon': 2.35}}",
                                       "[x, y]",
                                       "[[1], [2, 3]]",
                                       "{k=7}",
                                       "[{'x': 1, 'y': 2}]"};
  EXPECT_EQ(first[0], expected);
  auto third = db.Query(
      "SELECT n, device::VARCHAR, tags::VARCHAR, nested::VARCHAR, attrs::VARCHAR, "
      "points::VARCHAR FROM '" +
      path + "' WHERE id = 'c'");
  std::vector<std::string> expected_third = {
      "NULL", "{'os': NULL, 'geo': NULL}", "[]", "[[], NULL]", "{}", "[NULL]"};
  EXPECT_EQ(third[0], expected_third);
  EXPECT_EQ(db.Scalar("SELECT tags[1] || ':' || attrs['a'] FROM '" + path + "' WHERE id = 'r4321'"),
            "t4321:4321");
  EXPECT_EQ(db.Scalar("SELECT sum(n) FROM '" + path + "' WHERE id LIKE 'r%'"),
            std::to_string(4999 * 5000 / 2));
  // Row groups follow the option (DuckDB rounds it to whole 2048-row chunks).
  EXPECT_EQ(db.Scalar("SELECT count(DISTINCT row_group_id) FROM parquet_metadata('" + path + "')"),
            "2");
  EXPECT_EQ(db.Scalar("SELECT DISTINCT compression FROM parquet_metadata('" + path + "')"), "ZSTD");
}

TEST(ParquetWriterTest, SelectedRowsAndCompressions) {
  ::inlet::testing::TempDir dir;
  schema::TableSchema table;
  table.columns.push_back(schema::Column{"v", *schema::ParseType("bigint")});
  table.columns.push_back(schema::Column{"s", *schema::ParseType("array<string>")});
  schema::RecordConverter converter(&table);
  schema::ColumnBatch batch(&table);
  schema::ConversionError error;
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE(converter.Convert(
        R"({"v":)" + std::to_string(k) + R"(,"s":["a)" + std::to_string(k) + R"("]})", &batch,
        nullptr, &error));
  }
  auto writer = ParquetWriter::Create();
  ASSERT_TRUE(writer.ok());
  std::vector<WriteColumn> columns = {{"v", batch.column(0)}, {"s", batch.column(1)}};
  std::vector<uint32_t> rows = {1, 4, 9};
  DuckDbReader db;
  for (auto [c, name] :
       {std::pair{Compression::kSnappy, "SNAPPY"}, std::pair{Compression::kGzip, "GZIP"},
        std::pair{Compression::kNone, "UNCOMPRESSED"}, std::pair{Compression::kZstd, "ZSTD"}}) {
    std::string path = ParquetPath(dir, name) + ".parquet";
    ASSERT_TRUE(
        (*writer)
            ->Write(columns, rows, ParquetOptions{.compression = c, .row_group_rows = 100}, path)
            .ok());
    EXPECT_EQ(db.Scalar("SELECT string_agg(v || s[1], ',') FROM '" + path + "'"), "1a1,4a4,9a9");
    EXPECT_EQ(db.Scalar("SELECT DISTINCT compression FROM parquet_metadata('" + path + "')"), name);
  }
}

// The default zstd level is kDefaultZstdLevel (2), not DuckDB's 3: a file
// written without a level is the same as one written at 2, and one at 3
// differs. Enough varied rows that the levels compress differently.
TEST(ParquetWriterTest, DefaultZstdLevelIsInletsNotDuckDbs) {
  ::inlet::testing::TempDir dir;
  schema::TableSchema table;
  table.columns.push_back(schema::Column{"id", *schema::ParseType("string")});
  table.columns.push_back(schema::Column{"n", *schema::ParseType("bigint")});
  schema::ColumnBatch batch(&table);
  uint64_t x = 88172645463325252ull;
  for (int k = 0; k < 20000; ++k) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    batch.column(0)->AppendString("user-" + std::to_string(x % 5000) + "-" +
                                  std::to_string(x % 977));
    batch.column(1)->AppendInt64(static_cast<int64_t>(x % 100000));
    batch.CommitRow();
  }
  auto writer = ParquetWriter::Create();
  ASSERT_TRUE(writer.ok());
  std::vector<WriteColumn> columns = {{"id", batch.column(0)}, {"n", batch.column(1)}};
  std::vector<uint32_t> rows(batch.rows());
  std::iota(rows.begin(), rows.end(), 0);
  auto bytes_at = [&](int level) {
    std::string path = ParquetPath(dir, "level") + std::to_string(level) + ".parquet";
    auto size = (*writer)->Write(columns, rows, ParquetOptions{.compression_level = level}, path);
    EXPECT_TRUE(size.ok());
    return size.ok() ? *size : 0;
  };
  const uint64_t by_default = bytes_at(0);
  EXPECT_EQ(by_default, bytes_at(kDefaultZstdLevel));
  EXPECT_NE(by_default, bytes_at(3));
  DuckDbReader db;
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM '" + ParquetPath(dir, "level") + "0.parquet'"),
            "20000");
}

TEST(ParquetWriterTest, LabelledCodesAreWrittenAsStrings) {
  ::inlet::testing::TempDir dir;
  schema::TableSchema table;
  table.columns.push_back(schema::Column{"gender", *schema::ParseType("int")});
  table.columns.push_back(schema::Column{"poi", *schema::ParseType("int")});
  schema::ColumnBatch batch(&table);
  std::vector<std::string> genders = {"unknown", "female", "male"};
  std::vector<std::string> pois;  // more than 255 labels: 16-bit codes
  for (int k = 0; k < 300; ++k) pois.push_back("poi-" + std::to_string(k));
  for (int k = 0; k < 5000; ++k) {  // several DuckDB chunks
    if (k % 7 == 0) {
      batch.column(0)->AppendNull();
    } else {
      batch.column(0)->AppendInt32(k % 3);
    }
    batch.column(1)->AppendInt32(k % 300);
    batch.CommitRow();
  }
  auto writer = ParquetWriter::Create();
  ASSERT_TRUE(writer.ok());
  std::vector<WriteColumn> columns = {{"gender", batch.column(0)}, {"poi", batch.column(1)}};
  columns[0].labels = genders;
  columns[1].labels = pois;
  std::vector<uint32_t> rows(batch.rows());
  std::iota(rows.begin(), rows.end(), 0u);
  std::string path = ParquetPath(dir, "labels.parquet");
  ASSERT_TRUE((*writer)->Write(columns, rows, ParquetOptions{}, path).ok());
  DuckDbReader db;
  EXPECT_EQ(
      db.Scalar("SELECT string_agg(column_type, ',') FROM (DESCRIBE SELECT * FROM '" + path + "')"),
      "VARCHAR,VARCHAR");
  // Plain UTF-8 strings in the file, as any other reader expects.
  EXPECT_EQ(
      db.Scalar("SELECT string_agg(type || ' ' || converted_type, ',') FROM parquet_schema('" +
                path + "') WHERE name IN ('gender', 'poi')"),
      "BYTE_ARRAY UTF8,BYTE_ARRAY UTF8");
  EXPECT_EQ(
      db.Scalar("SELECT count(*) FROM '" + path + "' WHERE gender = 'male' AND poi = 'poi-299'"),
      std::to_string(std::ranges::count_if(
          rows, [](uint32_t k) { return k % 7 != 0 && k % 3 == 2 && k % 300 == 299; })));
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM '" + path + "' WHERE gender IS NULL"), "715");
  EXPECT_EQ(db.Scalar("SELECT min(poi) || ' ' || max(gender) FROM '" + path + "'"),
            "poi-0 unknown");
  // A code without a label is refused, not written.
  batch.column(1)->AppendInt32(300);
  batch.column(0)->AppendInt32(0);
  batch.CommitRow();
  rows.push_back(static_cast<uint32_t>(batch.rows() - 1));
  auto bad = (*writer)->Write(columns, rows, ParquetOptions{}, path + ".bad");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("code 300 at row 5000 has no label"), std::string::npos)
      << bad.status().ToString();
}

TEST(ParquetWriterTest, ReadsLikeParquetFromOtherWriters) {
  INLET_REQUIRE_SHARED(shared);
  // A conformance file written by another implementation and ours, read the same way.
  std::filesystem::path other = shared / "conformance/parquet/alltypes_plain.parquet";
  if (!std::filesystem::exists(other)) GTEST_SKIP() << other << " missing";
  DuckDbReader db;
  auto rows = db.Query("SELECT count(*), min(id) FROM read_parquet('" + other.string() + "')");
  EXPECT_EQ(rows[0][0], "8");
}

}  // namespace
}  // namespace inlet::delivery
