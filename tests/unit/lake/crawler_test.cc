#include "lake/crawler.h"

#include <gtest/gtest.h>

#include "golden/test_lake.h"
#include "support/test_support.h"

namespace inlet::lake {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

class CrawlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Catalog::Open(dir_.path() / "lake/_catalog/catalog.db");
    ASSERT_TRUE(c.ok());
    catalog_ = std::move(c).value();
  }
  // Writes `select` as t/day=D/f.parquet.
  void Write(int day, const std::string& file, const std::string& select) {
    fs::path d = dir_.path() / "lake/app/t" / ("day=" + std::to_string(day));
    fs::create_directories(d);
    testing::RunDuckDb({"COPY (" + select + ") TO '" + (d / file).string() + "' (FORMAT parquet)"});
  }
  CrawlReport Crawl(UpdateBehavior u = UpdateBehavior::kUpdateInCatalog,
                    DeleteBehavior d = DeleteBehavior::kDeprecateInCatalog,
                    RecrawlPolicy r = RecrawlPolicy::kEverything) {
    Crawler crawler(catalog_.get(), dir_.path() / "lake");
    CrawlOptions o;
    o.table = "app.t";
    o.prefix = "app/t/";
    o.crawler = "test";
    o.update_behavior = u;
    o.delete_behavior = d;
    o.recrawl = r;
    auto rep = crawler.Crawl(o);
    EXPECT_TRUE(rep.ok()) << rep.status().ToString();
    return rep.ok() ? rep.value() : CrawlReport{};
  }
  TableInfo Table() { return catalog_->GetTable("app", "t").value(); }
  std::string Joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += x + "\n";
    return s;
  }

  TempDir dir_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CrawlerTest, CreatesTheTableWithPartitionsAndNestedTypes) {
  Write(1, "a.parquet",
        "SELECT 1::INTEGER AS id, 'x' AS name, {'os': 'ios'} AS device, [1.5::DOUBLE] AS xs");
  Write(2, "a.parquet",
        "SELECT 2::INTEGER AS id, 'y' AS name, {'os': 'and'} AS device, [2.5::DOUBLE] AS xs");
  int progress_calls = 0;
  Crawler crawler(catalog_.get(), dir_.path() / "lake");
  CrawlOptions o;
  o.table = "app.t";
  o.progress = [&](size_t done, size_t total) {
    ++progress_calls;
    EXPECT_LE(done, total);
  };
  auto rep = crawler.Crawl(o);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  EXPECT_TRUE(rep->created);
  EXPECT_EQ(rep->files_found, 2u);
  EXPECT_EQ(rep->partitions_found, 2u);
  EXPECT_EQ(rep->rows, 2u);
  EXPECT_EQ(progress_calls, 2);
  TableInfo t = Table();
  ASSERT_EQ(t.columns.size(), 4u);
  EXPECT_EQ(t.columns[0].type, "int");
  EXPECT_EQ(t.columns[2].type, "struct<os:string>");
  EXPECT_EQ(t.columns[3].type, "array<double>");
  ASSERT_EQ(t.partition_keys.size(), 1u);
  EXPECT_EQ(t.partition_keys[0].name, "day");
  EXPECT_EQ(t.partition_keys[0].type, "bigint");
  EXPECT_EQ(t.source, "crawler:cli");
  EXPECT_NE(rep->Summary().find("2 found"), std::string::npos);
}

TEST_F(CrawlerTest, APrefixNothingWasWrittenToYetIsEmptyNotAnError) {
  Crawler crawler(catalog_.get(), dir_.path() / "lake");
  CrawlOptions o;
  o.table = "app.t";
  o.prefix = "app/t/";  // no such folder
  auto rep = crawler.Crawl(o);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  EXPECT_EQ(rep->files_found, 0u);
  EXPECT_FALSE(rep->created);
  EXPECT_FALSE(catalog_->GetTable("app", "t").ok());
  // Its first file is found by the next crawl.
  Write(1, "a.parquet", "SELECT 1 AS id");
  EXPECT_TRUE(Crawl().created);
}

TEST_F(CrawlerTest, NewPartitionsAreAdded) {
  Write(1, "a.parquet", "SELECT 1 AS id");
  Crawl();
  Write(2, "a.parquet", "SELECT 2 AS id");
  auto rep =
      Crawl(UpdateBehavior::kUpdateInCatalog, DeleteBehavior::kLog, RecrawlPolicy::kNewFoldersOnly);
  EXPECT_EQ(rep.partitions_new, 1u);
  EXPECT_EQ(rep.files_read, 1u);  // only the new folder
  EXPECT_EQ(catalog_->Partitions("app", "t")->size(), 2u);
}

TEST_F(CrawlerTest, AddedColumnByPolicy) {
  Write(1, "a.parquet", "SELECT 1 AS id");
  Crawl();
  Write(2, "a.parquet", "SELECT 2 AS id, 'new' AS note");
  auto logged = Crawl(UpdateBehavior::kLog);
  EXPECT_NE(Joined(logged.logged).find("added column note string"), std::string::npos)
      << logged.Summary();
  EXPECT_EQ(Table().columns.size(), 1u);
  auto applied = Crawl(UpdateBehavior::kUpdateInCatalog);
  EXPECT_NE(Joined(applied.applied).find("added column note string"), std::string::npos);
  ASSERT_EQ(Table().columns.size(), 2u);
  auto h = catalog_->History("app", "t");
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[1].changed_by, "crawler:test");
  EXPECT_NE((*h)[1].change.find("added column note"), std::string::npos);
}

TEST_F(CrawlerTest, WidenedTypeIsApplied) {
  Write(1, "a.parquet", "SELECT 1::INTEGER AS n");
  Crawl();
  Write(2, "a.parquet", "SELECT 5000000000::BIGINT AS n");
  auto rep = Crawl();
  EXPECT_NE(Joined(rep.applied).find("column n: int -> bigint (widened"), std::string::npos)
      << rep.Summary();
  EXPECT_EQ(Table().columns[0].type, "bigint");
  EXPECT_TRUE(rep.incompatible.empty());
}

TEST_F(CrawlerTest, IncompatibleChangeIsReportedNeverApplied) {
  Write(1, "a.parquet", "SELECT 1::BIGINT AS n");
  Crawl();
  Write(2, "a.parquet", "SELECT 'text' AS n");
  auto rep = Crawl();
  ASSERT_FALSE(rep.incompatible.empty());
  EXPECT_NE(
      Joined(rep.incompatible)
          .find("column n: bigint in app/t/day=1/a.parquet but string in app/t/day=2/a.parquet"),
      std::string::npos)
      << rep.Summary();
  EXPECT_EQ(Table().columns[0].type, "bigint");
  EXPECT_NE(rep.Summary().find("INCOMPATIBLE"), std::string::npos);
}

TEST_F(CrawlerTest, RemovedColumnWithEachDeletePolicy) {
  Write(1, "a.parquet", "SELECT 1 AS id, 'x' AS old");
  Crawl();
  fs::remove(dir_.path() / "lake/app/t/day=1/a.parquet");
  Write(1, "b.parquet", "SELECT 1 AS id");

  auto logged = Crawl(UpdateBehavior::kUpdateInCatalog, DeleteBehavior::kLog);
  EXPECT_NE(Joined(logged.logged).find("column old string is in no file any more"),
            std::string::npos);
  ASSERT_NE(Table().FindColumn("old"), nullptr);
  EXPECT_FALSE(Table().FindColumn("old")->deprecated);

  auto deprecated = Crawl(UpdateBehavior::kUpdateInCatalog, DeleteBehavior::kDeprecateInCatalog);
  EXPECT_NE(Joined(deprecated.applied).find("deprecated in the catalog"), std::string::npos);
  ASSERT_NE(Table().FindColumn("old"), nullptr);
  EXPECT_TRUE(Table().FindColumn("old")->deprecated);

  auto deleted = Crawl(UpdateBehavior::kUpdateInCatalog, DeleteBehavior::kDeleteFromCatalog);
  EXPECT_EQ(Table().FindColumn("old"), nullptr) << deleted.Summary();
}

TEST_F(CrawlerTest, RemovedPartitionWithEachDeletePolicy) {
  Write(1, "a.parquet", "SELECT 1 AS id");
  Write(2, "a.parquet", "SELECT 2 AS id");
  Crawl();
  fs::remove_all(dir_.path() / "lake/app/t/day=2");
  auto logged = Crawl(UpdateBehavior::kUpdateInCatalog, DeleteBehavior::kLog);
  EXPECT_EQ(logged.partitions_gone, 1u);
  EXPECT_EQ(catalog_->Partitions("app", "t")->size(), 2u);
  Crawl(UpdateBehavior::kUpdateInCatalog, DeleteBehavior::kDeprecateInCatalog);
  auto parts = catalog_->Partitions("app", "t").value();
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_TRUE(parts[1].deprecated);
  Crawl(UpdateBehavior::kUpdateInCatalog, DeleteBehavior::kDeleteFromCatalog);
  EXPECT_EQ(catalog_->Partitions("app", "t")->size(), 1u);
}

TEST(WidenedTypeTest, Rules) {
  EXPECT_EQ(WidenedType("int", "bigint"), "bigint");
  EXPECT_EQ(WidenedType("bigint", "double"), "double");
  EXPECT_EQ(WidenedType("date", "timestamp"), "timestamp");
  EXPECT_EQ(WidenedType("decimal(10,2)", "decimal(12,4)"), "decimal(12,4)");
  EXPECT_EQ(WidenedType("struct<a:int>", "struct<a:bigint,b:string>"), "struct<a:bigint,b:string>");
  EXPECT_EQ(WidenedType("array<int>", "array<double>"), "array<double>");
  EXPECT_EQ(WidenedType("string", "bigint"), std::nullopt);
  EXPECT_EQ(WidenedType("struct<a:int>", "struct<a:string>"), std::nullopt);
}

}  // namespace
}  // namespace inlet::lake
