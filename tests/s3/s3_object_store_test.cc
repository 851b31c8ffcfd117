// S3ObjectStore against a real, signature-checking S3 server: Ceph radosgw
// started once for this binary (scripts/start-radosgw) on 127.0.0.1. Skips
// when Ceph is not installed.
#include "storage/s3_object_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <thread>

#include "support/radosgw.h"
#include "support/test_support.h"

namespace inlet::storage {
namespace {

using ::inlet::testing::RadosGateway;
using ::inlet::testing::TempDir;

// Single PUTs above this are refused by the test server, so an object larger
// than it that arrives intact went up as a multipart upload.
constexpr uint64_t kMaxSinglePut = 24ull << 20;

RadosGateway* g_gateway = nullptr;
std::string g_unavailable;  // why there is no gateway

class GatewayEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (!RadosGateway::Installed()) {
      g_unavailable = "skip";
      return;
    }
    dir_ = std::make_unique<TempDir>();
    auto gw = RadosGateway::Start(dir_->path() / "ceph", kMaxSinglePut);
    if (!gw.ok()) {
      g_unavailable = gw.status().ToString();
      return;
    }
    gateway_ = std::move(*gw);
    g_gateway = gateway_.get();
    std::printf("radosgw at %s ready in %lld ms, %llu MiB resident\n",
                g_gateway->endpoint().c_str(),
                static_cast<long long>(g_gateway->start_time().count()),
                static_cast<unsigned long long>(g_gateway->ResidentBytes() >> 20));
  }
  void TearDown() override {
    if (g_gateway) {
      std::printf("radosgw: %llu MiB resident at the end\n",
                  static_cast<unsigned long long>(g_gateway->ResidentBytes() >> 20));
    }
    g_gateway = nullptr;
    gateway_.reset();
    dir_.reset();
  }

 private:
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<RadosGateway> gateway_;
};

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new GatewayEnvironment);

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>(v >> (8 * j));
  }
  return out;
}

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (g_unavailable == "skip") {
      GTEST_SKIP() << "Ceph is not installed (Debian packages ceph-mon ceph-osd radosgw "
                      "ceph-common; scripts/bootstrap installs them): skipping the S3 tests";
    }
    ASSERT_NE(g_gateway, nullptr) << "radosgw did not start: " << g_unavailable;
    // A fresh bucket per test: "t-<test name>-<n>" in S3's bucket alphabet.
    static std::atomic<int> counter{0};
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    bucket_ = "t-";
    for (char c : name.substr(0, 40))
      bucket_ += static_cast<char>(std::isalnum(c) ? std::tolower(c) : '-');
    bucket_ += "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    auto unchecked = S3ObjectStore::OpenUnchecked(Options());
    ASSERT_TRUE(unchecked.ok()) << unchecked.status().ToString();
    Status created = (*unchecked)->CreateBucket();
    ASSERT_TRUE(created.ok()) << created.ToString();
    auto store = S3ObjectStore::Open(Options());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }

  S3Options Options() const {
    S3Options o;
    o.endpoint = g_gateway->endpoint();
    o.bucket = bucket_;
    o.access_key_id = g_gateway->access_key();
    o.secret_access_key = g_gateway->secret_key();
    o.max_attempts = 3;
    o.retry_base_delay = std::chrono::milliseconds(50);
    return o;
  }

  std::vector<std::string> Keys(ObjectStore& store, std::string_view prefix) {
    auto list = store.List(prefix);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    std::vector<std::string> keys;
    if (list.ok()) {
      for (const auto& e : *list) keys.push_back(e.key);
    }
    return keys;
  }

  std::string bucket_;
  std::unique_ptr<S3ObjectStore> store_;
};

TEST_F(S3StoreTest, PutGetExistsDelete) {
  S3ObjectStore& s = *store_;
  ASSERT_TRUE(s.PutBytes("raw/t/a.txt", "hello").ok());
  EXPECT_EQ(*s.Get("raw/t/a.txt"), "hello");
  ASSERT_TRUE(s.PutBytes("raw/t/a.txt", "replaced, longer").ok());
  EXPECT_EQ(*s.Get("raw/t/a.txt"), "replaced, longer");
  ASSERT_TRUE(s.PutBytes("raw/t/empty", "").ok());
  EXPECT_EQ(*s.Get("raw/t/empty"), "");
  std::string binary = RandomBytes(100000, 1);
  ASSERT_TRUE(s.PutBytes("raw/t/binary", binary).ok());
  EXPECT_EQ(*s.Get("raw/t/binary"), binary);

  EXPECT_TRUE(*s.Exists("raw/t/a.txt"));
  EXPECT_FALSE(*s.Exists("raw/t/none"));
  auto missing = s.Get("raw/t/none");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("NoSuchKey"), std::string::npos)
      << missing.status().message();
  EXPECT_NE(missing.status().message().find(bucket_ + "/raw/t/none"), std::string::npos);

  auto list = s.List("raw/t/");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].key, "raw/t/a.txt");
  EXPECT_EQ((*list)[0].size, 16u);
  EXPECT_EQ((*list)[1].key, "raw/t/binary");
  EXPECT_EQ((*list)[1].size, 100000u);

  ASSERT_TRUE(s.Delete("raw/t/a.txt").ok());
  EXPECT_FALSE(*s.Exists("raw/t/a.txt"));
  EXPECT_EQ(s.Get("raw/t/a.txt").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(s.Delete("raw/t/a.txt").ok()) << "deleting a missing object is OK";
  EXPECT_EQ(Keys(s, "raw/"), (std::vector<std::string>{"raw/t/binary", "raw/t/empty"}));
  EXPECT_EQ(s.Describe(), "s3://" + bucket_);
}

TEST_F(S3StoreTest, LargeObjectsGoUpInParts) {
  // The server refuses single PUTs above kMaxSinglePut: proof of the limit.
  S3Options single = Options();
  single.multipart_threshold = 1ull << 30;
  auto one_shot = S3ObjectStore::Open(single);
  ASSERT_TRUE(one_shot.ok());
  std::string big = RandomBytes((40ull << 20) + 12345, 2);
  Status refused = (*one_shot)->PutBytes("big/single", big);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("EntityTooLarge"), std::string::npos) << refused.message();

  // Default options: 40 MiB goes up in 8 MiB parts and reads back intact.
  ASSERT_TRUE(store_->PutBytes("big/bytes", big).ok());
  auto back = store_->Get("big/bytes");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == big) << "sizes " << back->size() << " vs " << big.size();

  // From a file, with a lowered threshold and the smallest part S3 allows;
  // the file is consumed.
  S3Options small_parts = Options();
  small_parts.multipart_threshold = 6ull << 20;
  small_parts.part_size = 5ull << 20;
  auto parts = S3ObjectStore::Open(small_parts);
  ASSERT_TRUE(parts.ok());
  TempDir dir;
  std::string content = RandomBytes((26ull << 20) + 1, 3);
  testing::WriteFile(dir.path() / "staged.parquet", content);
  Status put = (*parts)->PutFile("big/file.parquet", dir.path() / "staged.parquet");
  ASSERT_TRUE(put.ok()) << put.ToString();
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "staged.parquet"));
  EXPECT_TRUE(*store_->Get("big/file.parquet") == content);

  // A small file is a single PUT.
  testing::WriteFile(dir.path() / "small", "tiny");
  ASSERT_TRUE(store_->PutFile("big/small", dir.path() / "small").ok());
  EXPECT_EQ(*store_->Get("big/small"), "tiny");

  auto list = store_->List("big/");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);  // no object from the refused single PUT
  EXPECT_EQ((*list)[0].key, "big/bytes");
  EXPECT_EQ((*list)[0].size, big.size());
  EXPECT_EQ((*list)[1].size, content.size());
}

TEST_F(S3StoreTest, ListPaginatesAcrossThousandsOfKeysFromManyThreads) {
  // 1,030 keys written by 8 threads at once (one store shared by all): more
  // than one default page of 1,000.
  constexpr int kKeys = 1030;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kKeys; i += 8) {
        char key[64];
        std::snprintf(key, sizeof(key), "many/year=2024/month=%02d/k%05d", i % 12 + 1, i);
        if (!store_->PutBytes(key, std::to_string(i)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  ASSERT_TRUE(store_->PutBytes("other/x", "x").ok());

  auto all = store_->List("many/");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), static_cast<size_t>(kKeys));
  std::set<std::string> unique;
  for (const auto& e : *all) unique.insert(e.key);
  EXPECT_EQ(unique.size(), static_cast<size_t>(kKeys));
  EXPECT_TRUE(
      std::is_sorted(all->begin(), all->end(),
                     [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; }));

  // Small pages: same result, many continuation tokens.
  S3Options paged = Options();
  paged.list_page_size = 37;
  auto small = S3ObjectStore::Open(paged);
  ASSERT_TRUE(small.ok());
  auto month = (*small)->List("many/year=2024/month=03/");
  ASSERT_TRUE(month.ok()) << month.status().ToString();
  EXPECT_EQ(month->size(), 86u);  // i % 12 == 2 for i < 1030
  auto everything = (*small)->List("");
  ASSERT_TRUE(everything.ok());
  EXPECT_EQ(everything->size(), static_cast<size_t>(kKeys) + 1);
  EXPECT_EQ(Keys(**small, "nothing/"), std::vector<std::string>{});
}

TEST_F(S3StoreTest, KeysWithSpacesUnicodeAndReservedCharacters) {
  const std::vector<std::string> keys = {
      "raw/year=2024/month=01/part 0.parquet",
      "raw/unicode/\xc3\xa9t\xc3\xa9/\xe6\x95\xb0\xe6\x8d\xae.txt",  // été/数据.txt
      "raw/odd/a+b&c=d;e,f'g(h)!~*$@:.txt",
      "raw/xml/<tag>&amp;\"quoted\".txt",
      "raw/percent/100%25 done?.txt",
  };
  for (size_t i = 0; i < keys.size(); ++i) {
    Status st = store_->PutBytes(keys[i], "v" + std::to_string(i));
    ASSERT_TRUE(st.ok()) << keys[i] << ": " << st.ToString();
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    auto got = store_->Get(keys[i]);
    ASSERT_TRUE(got.ok()) << keys[i] << ": " << got.status().ToString();
    EXPECT_EQ(*got, "v" + std::to_string(i)) << keys[i];
    EXPECT_TRUE(*store_->Exists(keys[i])) << keys[i];
  }
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(Keys(*store_, "raw/"), sorted);
  EXPECT_EQ(Keys(*store_, "raw/year=2024/"), std::vector<std::string>{keys[0]});
  EXPECT_EQ(Keys(*store_, "raw/unicode/\xc3\xa9t\xc3\xa9/"), std::vector<std::string>{keys[1]});
  for (const auto& k : keys) ASSERT_TRUE(store_->Delete(k).ok()) << k;
  EXPECT_EQ(Keys(*store_, "raw/"), std::vector<std::string>{});
}

TEST_F(S3StoreTest, PrefixInsideTheBucket) {
  S3Options o = Options();
  o.prefix = "/lake/v1/";
  auto lake = S3ObjectStore::Open(o);
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ((*lake)->Describe(), "s3://" + bucket_ + "/lake/v1");
  ASSERT_TRUE((*lake)->PutBytes("raw/a", "A").ok());
  ASSERT_TRUE(store_->PutBytes("lake/v10/raw/b", "B").ok());
  EXPECT_EQ(Keys(**lake, ""), std::vector<std::string>{"raw/a"});
  EXPECT_EQ(Keys(*store_, "lake/"), (std::vector<std::string>{"lake/v1/raw/a", "lake/v10/raw/b"}));
  EXPECT_EQ(*store_->Get("lake/v1/raw/a"), "A");
  EXPECT_TRUE(*(*lake)->Exists("raw/a"));
  ASSERT_TRUE((*lake)->Delete("raw/a").ok());
  EXPECT_FALSE(*store_->Exists("lake/v1/raw/a"));
}

TEST_F(S3StoreTest, WrongSecretKeyIsRejectedBySignatureCheck) {
  S3Options o = Options();
  o.secret_access_key = "not-the-secret";
  auto opened = S3ObjectStore::Open(o);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(opened.status().message().find("SignatureDoesNotMatch"), std::string::npos)
      << opened.status().message();
  EXPECT_NE(opened.status().message().find(bucket_), std::string::npos);

  auto unchecked = S3ObjectStore::OpenUnchecked(o);
  ASSERT_TRUE(unchecked.ok());
  Status put = (*unchecked)->PutBytes("k", "v");
  EXPECT_EQ(put.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(put.message().find("HTTP 403 SignatureDoesNotMatch"), std::string::npos)
      << put.message();
  EXPECT_EQ(put.message().find("attempts"), std::string::npos) << "a 403 is not retried";
  EXPECT_FALSE(*store_->Exists("k"));

  o = Options();
  o.access_key_id = "NOSUCHACCESSKEY00000";
  auto unknown = S3ObjectStore::Open(o);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("InvalidAccessKeyId"), std::string::npos)
      << unknown.status().message();
}

TEST_F(S3StoreTest, MissingBucketIsAClearError) {
  S3Options o = Options();
  o.bucket = "no-such-bucket-" + std::to_string(getpid());
  auto opened = S3ObjectStore::Open(o);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kNotFound);
  EXPECT_NE(opened.status().message().find("NoSuchBucket"), std::string::npos)
      << opened.status().message();
  EXPECT_NE(opened.status().message().find("s3://" + o.bucket), std::string::npos);
  EXPECT_NE(opened.status().message().find(g_gateway->endpoint()), std::string::npos);

  // CreateBucket is idempotent.
  EXPECT_TRUE(store_->CreateBucket().ok());
  EXPECT_TRUE(store_->CreateBucket().ok());
}

TEST_F(S3StoreTest, VirtualHostStyle) {
  // curl resolves *.localhost to 127.0.0.1; radosgw knows "localhost" as its
  // DNS name (rgw dns name), so bucket.localhost:PORT addresses the bucket.
  S3Options o = Options();
  o.endpoint = "http://localhost:" + std::to_string(g_gateway->port());
  o.path_style = false;
  auto vhost = S3ObjectStore::Open(o);
  ASSERT_TRUE(vhost.ok()) << vhost.status().ToString();
  ASSERT_TRUE((*vhost)->PutBytes("v/a b", "virtual").ok());
  EXPECT_EQ(*store_->Get("v/a b"), "virtual");
  EXPECT_EQ(Keys(**vhost, "v/"), std::vector<std::string>{"v/a b"});
}

TEST_F(S3StoreTest, NothingListeningFailsAfterBoundedRetries) {
  S3Options o = Options();
  o.endpoint = "http://127.0.0.1:" + std::to_string(testing::FreePort());
  o.max_attempts = 4;
  o.retry_base_delay = std::chrono::milliseconds(100);
  auto unchecked = S3ObjectStore::OpenUnchecked(o);
  ASSERT_TRUE(unchecked.ok());
  auto begin = std::chrono::steady_clock::now();
  Status put = (*unchecked)->PutBytes("k", "v");
  auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_EQ(put.code(), StatusCode::kUnavailable);
  EXPECT_NE(put.message().find("cannot reach " + o.endpoint), std::string::npos) << put.message();
  EXPECT_NE(put.message().find("after 4 attempts"), std::string::npos) << put.message();
  // 3 delays of at most 100, 200, 400 ms.
  EXPECT_LT(took, std::chrono::seconds(3));
  EXPECT_GE(took, std::chrono::milliseconds(350));
}

TEST_F(S3StoreTest, RetriesRideOverAGatewayRestart) {
  ASSERT_TRUE(store_->PutBytes("before", "1").ok());
  ASSERT_TRUE(g_gateway->StopGateway().ok());
  S3Options o = Options();
  o.max_attempts = 30;
  o.retry_base_delay = std::chrono::milliseconds(100);
  o.retry_max_delay = std::chrono::milliseconds(500);
  auto unchecked = S3ObjectStore::OpenUnchecked(o);
  ASSERT_TRUE(unchecked.ok());
  Status restarted;
  std::thread restarter([&] {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    restarted = g_gateway->StartGateway();
  });
  Status put = (*unchecked)->PutBytes("during", "2");
  restarter.join();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  ASSERT_TRUE(put.ok()) << put.ToString();
  EXPECT_EQ(*store_->Get("during"), "2");
  EXPECT_EQ(*store_->Get("before"), "1");
}

}  // namespace
}  // namespace inlet::storage
