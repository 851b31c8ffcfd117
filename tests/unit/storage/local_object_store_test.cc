#include "storage/local_object_store.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace inlet::storage {
namespace {

using ::inlet::testing::ReadFile;
using ::inlet::testing::TempDir;
using ::inlet::testing::WriteFile;

TEST(ObjectKeyTest, RejectsUnsafeKeys) {
  EXPECT_TRUE(ValidateObjectKey("raw/events/year=2024/a.parquet").ok());
  for (const char* key : {"", "/abs", "a//b", "a/../b", "../x", "a/./b", "dir/"}) {
    Status st = ValidateObjectKey(key);
    EXPECT_FALSE(st.ok()) << key;
    EXPECT_NE(st.message().find("invalid object key"), std::string::npos);
  }
}

TEST(LocalObjectStoreTest, PutGetListDelete) {
  TempDir dir;
  auto store = LocalObjectStore::Open(dir.path() / "lake");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  LocalObjectStore& s = **store;
  ASSERT_TRUE(s.PutBytes("raw/t/year=2024/a.parquet", "AAA").ok());
  ASSERT_TRUE(s.PutBytes("raw/t/year=2025/b.parquet", "BB").ok());
  ASSERT_TRUE(s.PutBytes("raw/u/c.parquet", "C").ok());
  EXPECT_EQ(*s.Get("raw/t/year=2024/a.parquet"), "AAA");
  ASSERT_TRUE(s.PutBytes("raw/t/year=2024/a.parquet", "replaced").ok());
  EXPECT_EQ(*s.Get("raw/t/year=2024/a.parquet"), "replaced");
  EXPECT_EQ(s.Get("raw/none").status().code(), StatusCode::kNotFound);

  auto list = s.List("raw/t/");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].key, "raw/t/year=2024/a.parquet");
  EXPECT_EQ((*list)[0].size, 8u);
  EXPECT_EQ((*list)[1].key, "raw/t/year=2025/b.parquet");
  EXPECT_EQ(s.List("raw/t/year=202")->size(), 2u);  // partial segment prefixes work
  EXPECT_EQ(s.List("raw/")->size(), 3u);
  EXPECT_EQ(s.List("nothing/")->size(), 0u);

  EXPECT_TRUE(*s.Exists("raw/u/c.parquet"));
  ASSERT_TRUE(s.Delete("raw/u/c.parquet").ok());
  EXPECT_FALSE(*s.Exists("raw/u/c.parquet"));
  EXPECT_TRUE(s.Delete("raw/u/c.parquet").ok());  // idempotent
  EXPECT_EQ(*s.LocalPath("raw/t/year=2025/b.parquet"),
            dir.path() / "lake/raw/t/year=2025/b.parquet");
  EXPECT_FALSE(s.PutBytes("../escape", "x").ok());
}

TEST(LocalObjectStoreTest, PutFileMovesAndLeavesNoTemporaries) {
  TempDir dir;
  auto store = LocalObjectStore::Open(dir.path() / "lake");
  ASSERT_TRUE(store.ok());
  std::filesystem::path staged = dir.path() / "staged.bin";
  WriteFile(staged, "payload");
  ASSERT_TRUE((*store)->PutFile("a/b/c.bin", staged).ok());
  EXPECT_FALSE(std::filesystem::exists(staged));
  EXPECT_EQ(ReadFile(dir.path() / "lake/a/b/c.bin"), "payload");
  size_t files = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir.path() / "lake")) {
    if (e.is_regular_file()) ++files;
  }
  EXPECT_EQ(files, 1u);
  // A temporary left by a crash is invisible to List and removable.
  WriteFile(dir.path() / "lake/a/b/.c.bin.tmp-1-1", "torn");
  EXPECT_EQ((*store)->List("a/")->size(), 1u);
  ASSERT_TRUE((*store)->RemoveTemporaryFiles().ok());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "lake/a/b/.c.bin.tmp-1-1"));
  EXPECT_FALSE((*store)->PutFile("x/y", dir.path() / "missing").ok());
}

}  // namespace
}  // namespace inlet::storage
