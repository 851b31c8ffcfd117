#include "lake/catalog.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace inlet::lake {
namespace {

using testing::TempDir;

TableInfo Events() {
  TableInfo t;
  t.database = "raw";
  t.name = "events";
  t.location = "raw/events/";
  t.columns = {{"id", "string", true, "the id", false}, {"n", "int", false, "", false}};
  t.partition_keys = {{"year", "bigint", false, "", false}};
  return t;
}

TEST(CatalogTest, TablesSurviveReopenWithColumnsAndPartitionKeys) {
  TempDir dir;
  {
    auto c = Catalog::Open(dir.path() / "_catalog/catalog.db");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_TRUE((*c)->PutTable(Events(), "config").ok());
  }
  auto c = Catalog::Open(dir.path() / "_catalog/catalog.db");
  ASSERT_TRUE(c.ok());
  auto t = (*c)->GetTable("raw", "events");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->location, "raw/events/");
  ASSERT_EQ(t->columns.size(), 2u);
  EXPECT_EQ(t->columns[0].name, "id");
  EXPECT_TRUE(t->columns[0].required);
  EXPECT_EQ(t->columns[0].description, "the id");
  ASSERT_EQ(t->partition_keys.size(), 1u);
  EXPECT_EQ(t->schema_version, 1);
  auto dbs = (*c)->ListDatabases();
  ASSERT_TRUE(dbs.ok());
  ASSERT_EQ(dbs->size(), 1u);
  EXPECT_EQ((*dbs)[0].tables, 1u);
  EXPECT_EQ((*c)->GetTable("raw", "nope").status().code(), StatusCode::kNotFound);
}

TEST(CatalogTest, SchemaChangesAreVersionedWithWhoAndWhat) {
  TempDir dir;
  auto c = Catalog::Open(dir.path() / "catalog.db");
  ASSERT_TRUE(c.ok());
  Catalog& cat = **c;
  ASSERT_TRUE(cat.PutTable(Events(), "config").ok());
  // The same definition again writes nothing.
  auto again = cat.PutTable(Events(), "config");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again.value());
  TableInfo t = Events();
  t.columns[1].type = "bigint";
  t.columns.push_back({"extra", "string", false, "", false});
  ASSERT_TRUE(cat.PutTable(t, "crawler:nightly").ok());
  auto h = cat.History("raw", "events");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0].changed_by, "config");
  EXPECT_EQ((*h)[1].version, 2);
  EXPECT_EQ((*h)[1].changed_by, "crawler:nightly");
  EXPECT_NE((*h)[1].change.find("column n: int -> bigint"), std::string::npos) << (*h)[1].change;
  EXPECT_NE((*h)[1].change.find("added column extra string"), std::string::npos);
  EXPECT_EQ((*h)[1].columns.size(), 3u);
  EXPECT_EQ(cat.GetTable("raw", "events")->schema_version, 2);
}

TEST(CatalogTest, ChangeCounterMovesOnEveryWrite) {
  TempDir dir;
  auto c = Catalog::Open(dir.path() / "catalog.db");
  ASSERT_TRUE(c.ok());
  int64_t before = (*c)->ChangeCounter().value();
  ASSERT_TRUE((*c)->PutTable(Events(), "config").ok());
  int64_t after = (*c)->ChangeCounter().value();
  EXPECT_GT(after, before);
  ASSERT_TRUE(
      (*c)->PutPartitions("raw", "events", {{"raw/events/year=2024/", {"2024"}, 2, 100, 10, false}})
          .ok());
  EXPECT_GT((*c)->ChangeCounter().value(), after);
  auto parts = (*c)->Partitions("raw", "events");
  ASSERT_TRUE(parts.ok());
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].values, std::vector<std::string>{"2024"});
  EXPECT_EQ((*parts)[0].rows, 10u);
}

TEST(CatalogTest, DropTableKeepsItsHistory) {
  TempDir dir;
  auto c = Catalog::Open(dir.path() / "catalog.db");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->PutTable(Events(), "config").ok());
  ASSERT_TRUE((*c)->DropTable("raw", "events", "cli").ok());
  EXPECT_EQ((*c)->GetTable("raw", "events").status().code(), StatusCode::kNotFound);
  auto h = (*c)->History("raw", "events");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->back().change, "table dropped");
}

TEST(CatalogTest, RejectsBadNames) {
  EXPECT_FALSE(SplitQualifiedName("events").ok());
  EXPECT_FALSE(SplitQualifiedName("raw.ev;ents").ok());
  EXPECT_TRUE(SplitQualifiedName("raw.events").ok());
}

}  // namespace
}  // namespace inlet::lake
