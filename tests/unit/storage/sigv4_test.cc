#include "storage/sigv4.h"

#include <gtest/gtest.h>

namespace inlet::storage::sigv4 {
namespace {

constexpr char kEmptySha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// AWS's documented example "GET Object" (S3 API reference, "Signature
// calculations for the Authorization header: transferring payload in a single
// chunk"): the first 10 bytes of examplebucket/test.txt.
TEST(SigV4Test, AwsDocumentedGetObjectExample) {
  Request req;
  req.method = "GET";
  req.canonical_uri = "/test.txt";
  req.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                 {"Range", "bytes=0-9"},
                 {"x-amz-content-sha256", kEmptySha},
                 {"x-amz-date", "20130524T000000Z"}};
  req.payload_sha256 = kEmptySha;
  Scope scope{"20130524T000000Z", "us-east-1", "s3"};

  std::string signed_headers;
  std::string canonical = CanonicalRequest(req, &signed_headers);
  EXPECT_EQ(canonical,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:" +
                std::string(kEmptySha) + "\nx-amz-date:20130524T000000Z\n\n" +
                "host;range;x-amz-content-sha256;x-amz-date\n" + kEmptySha);
  EXPECT_EQ(Sha256Hex(canonical),
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(Authorization(req, {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
                          scope),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
            "aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

// AWS's SigV4 test suite case "get-vanilla-query-order-key-case": parameters
// given out of order must be signed sorted.
TEST(SigV4Test, AwsTestSuiteQueryOrder) {
  Request req;
  req.method = "GET";
  req.canonical_uri = "/";
  req.query = {{"Param2", "value2"}, {"Param1", "value1"}};
  req.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  req.payload_sha256 = kEmptySha;
  EXPECT_EQ(Authorization(req, {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
                          {"20150830T123600Z", "us-east-1", "service"}),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request,"
            "SignedHeaders=host;x-amz-date,"
            "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4Test, CanonicalQuerySortsAndEncodes) {
  EXPECT_EQ(CanonicalQueryString({}), "");
  EXPECT_EQ(CanonicalQueryString({{"uploads", ""}}), "uploads=");
  EXPECT_EQ(CanonicalQueryString({{"prefix", "year=2024/a b"},
                                  {"list-type", "2"},
                                  {"continuation-token", "1/+x=="},
                                  {"max-keys", "1000"}}),
            "continuation-token=1%2F%2Bx%3D%3D&list-type=2&max-keys=1000&"
            "prefix=year%3D2024%2Fa%20b");
  // Same name: sorted by value.
  EXPECT_EQ(CanonicalQueryString({{"a", "2"}, {"a", "1"}}), "a=1&a=2");
}

TEST(SigV4Test, UriEncodeKeepsUnreservedAndOptionallySlash) {
  EXPECT_EQ(UriEncode("AZaz09-._~", false), "AZaz09-._~");
  EXPECT_EQ(UriEncode("raw/year=2024/a b+c.parquet", true), "raw/year%3D2024/a%20b%2Bc.parquet");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(UriEncode("\xc3\xa9t\xc3\xa9", true), "%C3%A9t%C3%A9");  // "été"
}

TEST(SigV4Test, HeaderValuesAreTrimmedAndNamesLowercased) {
  Request req;
  req.method = "PUT";
  req.canonical_uri = "/b/k";
  req.headers = {{"X-Amz-Meta-A", "  two   spaces  "}, {"Host", "h"}};
  req.payload_sha256 = "UNSIGNED-PAYLOAD";
  std::string signed_headers;
  std::string canonical = CanonicalRequest(req, &signed_headers);
  EXPECT_EQ(signed_headers, "host;x-amz-meta-a");
  EXPECT_NE(canonical.find("\nhost:h\nx-amz-meta-a:two spaces\n"), std::string::npos) << canonical;
}

TEST(SigV4Test, AmzDateIsUtc) { EXPECT_EQ(AmzDate(1369353600), "20130524T000000Z"); }

}  // namespace
}  // namespace inlet::storage::sigv4
