#include "storage/s3_xml.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

#include "storage/s3_object_store.h"
#include "support/test_support.h"

namespace inlet::storage {
namespace {

TEST(S3XmlTest, DecodesEntities) {
  EXPECT_EQ(*s3xml::DecodeEntities("a&amp;b&lt;c&gt;d&quot;e&apos;f"), "a&b<c>d\"e'f");
  EXPECT_EQ(*s3xml::DecodeEntities("&#233;t&#xE9;&#x1F600;"), "\xc3\xa9t\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_FALSE(s3xml::DecodeEntities("a&nbsp;b").ok());
  EXPECT_FALSE(s3xml::DecodeEntities("a&amp b").ok());
  EXPECT_FALSE(s3xml::DecodeEntities("&#xD800;").ok());
  EXPECT_EQ(s3xml::EscapeText("\"a\"&<b>"), "&quot;a&quot;&amp;&lt;b&gt;");
}

TEST(S3XmlTest, ParsesListPageWithEntitiesAndToken) {
  const char* xml =
      R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>lake</Name><Prefix>raw/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>1/abc&amp;=</NextContinuationToken>
  <Contents><Key>raw/a &amp; b.txt</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>12</Size>
    <StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>raw/year=2024/month=01/&#233;t&#xE9;.parquet</Key><Size>0</Size></Contents>
  <Contents><Key>raw/&lt;Key&gt;</Key><Size>18446744073709551615</Size></Contents>
</ListBucketResult>)";
  auto page = s3xml::ParseListObjectsV2(xml);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->entries.size(), 3u);
  EXPECT_EQ(page->entries[0].key, "raw/a & b.txt");
  EXPECT_EQ(page->entries[0].size, 12u);
  EXPECT_EQ(page->entries[1].key, "raw/year=2024/month=01/\xc3\xa9t\xc3\xa9.parquet");
  EXPECT_EQ(page->entries[2].key, "raw/<Key>");
  EXPECT_EQ(page->entries[2].size, 18446744073709551615ull);
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "1/abc&=");
}

TEST(S3XmlTest, ParsesLastAndEmptyPages) {
  auto last = s3xml::ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated>"
      "<Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(last.ok());
  EXPECT_FALSE(last->truncated);
  EXPECT_EQ(last->entries.size(), 1u);
  auto empty = s3xml::ParseListObjectsV2(
      "<ListBucketResult xmlns=\"x\"><Name>b</Name><Prefix/><KeyCount>0</KeyCount>"
      "<IsTruncated>false</IsTruncated></ListBucketResult>");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->entries.empty());
}

TEST(S3XmlTest, RejectsBrokenListPages) {
  EXPECT_FALSE(s3xml::ParseListObjectsV2("<html>proxy error</html>").ok());
  EXPECT_FALSE(s3xml::ParseListObjectsV2(
                   "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>")
                   .ok());
  EXPECT_FALSE(
      s3xml::ParseListObjectsV2("<ListBucketResult><Contents><Key>k</Key><Size>x</Size></Contents>"
                                "</ListBucketResult>")
          .ok());
}

TEST(S3XmlTest, ParsesErrorBodies) {
  auto err = s3xml::ParseError(
      R"(<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code>)"
      R"(<Message>The request signature we calculated does not match &apos;x&apos;</Message>)"
      R"(<RequestId>tx0001</RequestId><HostId>h</HostId></Error>)");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, "SignatureDoesNotMatch");
  EXPECT_EQ(err->message, "The request signature we calculated does not match 'x'");
  EXPECT_EQ(err->request_id, "tx0001");
  // radosgw leaves Message empty.
  auto rgw = s3xml::ParseError("<Error><Code>NoSuchBucket</Code><Message></Message></Error>");
  ASSERT_TRUE(rgw.has_value());
  EXPECT_EQ(rgw->code, "NoSuchBucket");
  EXPECT_EQ(rgw->message, "");
  EXPECT_FALSE(s3xml::ParseError("").has_value());
  EXPECT_FALSE(s3xml::ParseError("<ListBucketResult/>").has_value());
}

TEST(S3XmlTest, MultipartDocuments) {
  auto id = s3xml::ParseUploadId(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
      "<UploadId>2~abc&amp;def</UploadId></InitiateMultipartUploadResult>");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "2~abc&def");
  EXPECT_FALSE(s3xml::ParseUploadId("<InitiateMultipartUploadResult/>").ok());
  EXPECT_EQ(s3xml::CompleteMultipartBody({"\"e1\"", "\"e2\""}),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;"
            "</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag></Part>"
            "</CompleteMultipartUpload>");
}

// Environment variables for one test, restored afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(S3CredentialsTest, EnvironmentThenSharedFileProfile) {
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "credentials",
                     "# comment\n[default]\naws_access_key_id = DEFAULTKEY\n"
                     "aws_secret_access_key = defaultsecret\n\n[ci]\n"
                     "aws_access_key_id=CIKEY\naws_secret_access_key=cisecret\n"
                     "aws_session_token = token123\n");
  ScopedEnv file("AWS_SHARED_CREDENTIALS_FILE", (dir.path() / "credentials").c_str());
  {
    ScopedEnv id("AWS_ACCESS_KEY_ID", "ENVKEY");
    ScopedEnv secret("AWS_SECRET_ACCESS_KEY", "envsecret");
    S3Options o;
    ASSERT_TRUE(ResolveCredentials(&o).ok());
    EXPECT_EQ(o.access_key_id, "ENVKEY");
    EXPECT_EQ(o.secret_access_key, "envsecret");
    // Explicit credentials win over the environment.
    S3Options set;
    set.access_key_id = "MINE";
    set.secret_access_key = "mine";
    ASSERT_TRUE(ResolveCredentials(&set).ok());
    EXPECT_EQ(set.access_key_id, "MINE");
  }
  ScopedEnv id("AWS_ACCESS_KEY_ID", nullptr);
  ScopedEnv secret("AWS_SECRET_ACCESS_KEY", nullptr);
  {
    ScopedEnv profile("AWS_PROFILE", nullptr);
    S3Options o;
    ASSERT_TRUE(ResolveCredentials(&o).ok());
    EXPECT_EQ(o.access_key_id, "DEFAULTKEY");
    EXPECT_EQ(o.secret_access_key, "defaultsecret");
  }
  {
    ScopedEnv profile("AWS_PROFILE", "ci");
    S3Options o;
    ASSERT_TRUE(ResolveCredentials(&o).ok());
    EXPECT_EQ(o.access_key_id, "CIKEY");
    EXPECT_EQ(o.session_token, "token123");
  }
  {
    ScopedEnv profile("AWS_PROFILE", "nope");
    S3Options o;
    Status st = ResolveCredentials(&o);
    EXPECT_EQ(st.code(), StatusCode::kUnauthenticated);
    EXPECT_NE(st.message().find("no profile [nope]"), std::string::npos) << st.message();
  }
}

TEST(S3OptionsTest, RejectsBadOptionsClearly) {
  S3Options o;
  o.endpoint = "127.0.0.1:9000";
  o.bucket = "b";
  o.access_key_id = "k";
  o.secret_access_key = "s";
  auto st = S3ObjectStore::OpenUnchecked(o);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("http://"), std::string::npos);
  o.endpoint = "http://127.0.0.1:9000";
  o.part_size = 1 << 20;
  st = S3ObjectStore::OpenUnchecked(o);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("5 MiB"), std::string::npos);
  o.part_size = 8 << 20;
  o.prefix = "/lake/raw/";
  auto store = S3ObjectStore::OpenUnchecked(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->Describe(), "s3://b/lake/raw");
  EXPECT_FALSE((*store)->LocalPath("a").has_value());
  EXPECT_EQ((*store)->Get("../x").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace inlet::storage
