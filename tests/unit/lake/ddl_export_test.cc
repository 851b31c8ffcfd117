#include "lake/ddl_export.h"

#include <gtest/gtest.h>

#include "golden/test_lake.h"
#include "lake/lake_service.h"

namespace inlet::lake {
namespace {

std::vector<TableInfo> Tables() {
  std::vector<TableInfo> out;
  for (const auto& r : testing::TestLakeTables()) out.push_back(TableInfoOf(r));
  return out;
}

TEST(DdlExportTest, AthenaHasColumnsPartitionsAndS3Location) {
  std::string ddl = ExportDdl(Tables(), DdlDialect::kAthena, "s3://bucket/lake");
  EXPECT_NE(ddl.find("CREATE DATABASE IF NOT EXISTS `raw`;"), std::string::npos);
  EXPECT_NE(ddl.find("CREATE EXTERNAL TABLE IF NOT EXISTS `raw`.`events` (\n  `event_id` string,"),
            std::string::npos)
      << ddl;
  EXPECT_NE(ddl.find("`device` struct<os:string,os_version:string,model:string>,"),
            std::string::npos);
  EXPECT_NE(ddl.find("PARTITIONED BY (`year` bigint, `month` bigint, `day` bigint)"),
            std::string::npos);
  EXPECT_NE(ddl.find("STORED AS PARQUET\nLOCATION 's3://bucket/lake/raw/events/'"),
            std::string::npos);
  EXPECT_NE(ddl.find("MSCK REPAIR TABLE `raw`.`events`;"), std::string::npos);
  EXPECT_NE(ddl.find("LOCATION 's3://bucket/lake/errors/format-conversion-failed/'"),
            std::string::npos);
}

TEST(DdlExportTest, TrinoUsesRowTypesAndPartitionColumnsLast) {
  std::string ddl = ExportDdl(Tables(), DdlDialect::kTrino, "file:///srv/lake/");
  EXPECT_NE(ddl.find("CREATE TABLE IF NOT EXISTS hive.\"raw\".\"events\""), std::string::npos)
      << ddl;
  EXPECT_NE(ddl.find("\"device\" row(\"os\" varchar, \"os_version\" varchar, \"model\" varchar)"),
            std::string::npos);
  EXPECT_NE(ddl.find("\"tags\" array(varchar)"), std::string::npos);
  EXPECT_NE(ddl.find("\"day\" bigint\n)"), std::string::npos);
  EXPECT_NE(ddl.find("external_location = 'file:///srv/lake/raw/events/'"), std::string::npos);
  EXPECT_NE(ddl.find("partitioned_by = ARRAY['year', 'month', 'day']"), std::string::npos);
}

TEST(DdlExportTest, HiveAndDeprecatedColumnsLeftOut) {
  auto tables = Tables();
  tables[0].columns[1].deprecated = true;  // user_id
  std::string ddl = ExportDdl(tables, DdlDialect::kHive, "file:///srv/lake");
  EXPECT_EQ(ddl.find("`user_id`"), std::string::npos);
  EXPECT_NE(ddl.find("TBLPROPERTIES ('parquet.compression'='ZSTD');"), std::string::npos);
  EXPECT_FALSE(ParseDdlDialect("spark").ok());
}

}  // namespace
}  // namespace inlet::lake
