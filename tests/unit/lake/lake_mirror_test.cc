#include "lake/lake_mirror.h"

#include <gtest/gtest.h>

#include "storage/local_object_store.h"
#include "support/test_support.h"

namespace inlet::lake {
namespace {

namespace fs = std::filesystem;

TEST(LakeMirrorTest, KeysOfSystemAreasAndTemporaryFilesAreNotMirrored) {
  EXPECT_TRUE(IsMirroredKey("raw/events/year=2026/month=11/day=27/a.parquet"));
  EXPECT_FALSE(IsMirroredKey("_state/raw-events.json"));
  EXPECT_FALSE(IsMirroredKey("_catalog/catalog.db"));
  EXPECT_FALSE(IsMirroredKey("raw/events/.a.parquet.tmp-1-2"));
  EXPECT_FALSE(IsMirroredKey(""));
}

TEST(LakeMirrorTest, DownloadsNewObjectsAndRemovesDeletedOnes) {
  testing::TempDir remote_dir, cache;
  auto remote = storage::LocalObjectStore::Open(remote_dir.path());
  ASSERT_TRUE(remote.ok());
  ASSERT_TRUE((*remote)->PutBytes("raw/events/year=2026/a.parquet", "AAAA").ok());
  ASSERT_TRUE((*remote)->PutBytes("curated/events/b.parquet", "BB").ok());
  ASSERT_TRUE((*remote)->PutBytes("_state/raw-events.json", "{}").ok());
  testing::WriteFile(cache.path() / "_catalog" / "catalog.db", "sqlite");

  LakeMirror mirror(remote->get(), cache.path());
  auto first = mirror.SyncOnce();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->downloaded, 2u);
  EXPECT_EQ(first->objects, 2u);
  EXPECT_EQ(testing::ReadFile(cache.path() / "raw/events/year=2026/a.parquet"), "AAAA");
  EXPECT_FALSE(fs::exists(cache.path() / "_state/raw-events.json"));

  // Nothing changed: nothing is downloaded again.
  EXPECT_EQ(mirror.SyncOnce()->downloaded, 0u);

  // A replaced object (other size) is fetched again; a deleted one disappears.
  ASSERT_TRUE((*remote)->PutBytes("curated/events/b.parquet", "BBBBBB").ok());
  ASSERT_TRUE((*remote)->Delete("raw/events/year=2026/a.parquet").ok());
  auto third = mirror.SyncOnce();
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->downloaded, 1u);
  EXPECT_EQ(third->removed, 1u);
  EXPECT_EQ(testing::ReadFile(cache.path() / "curated/events/b.parquet"), "BBBBBB");
  EXPECT_FALSE(fs::exists(cache.path() / "raw/events/year=2026/a.parquet"));
  EXPECT_EQ(testing::ReadFile(cache.path() / "_catalog" / "catalog.db"), "sqlite")
      << "the local catalog is not the mirror's";
}

}  // namespace
}  // namespace inlet::lake
