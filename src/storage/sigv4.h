// AWS Signature Version 4 for S3 requests (header-based, single-chunk signed
// payload): canonical request, string to sign, signing key and the
// Authorization header. Pure functions over common/sha256.h; no state,
// thread-safe.
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/sha256.h"

namespace inlet::storage::sigv4 {

using Params = std::vector<std::pair<std::string, std::string>>;

// Lowercase hex of SHA-256(data).
using ::inlet::Sha256Hex;
// Raw 32-byte HMAC-SHA256(key, data).
std::string HmacSha256(std::string_view key, std::string_view data);
std::string HexEncode(std::string_view bytes);

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters
// (A-Z a-z 0-9 - . _ ~) stay, every other byte becomes %XX (uppercase hex);
// '/' stays when `keep_slash` (object key paths).
std::string UriEncode(std::string_view s, bool keep_slash);

// "name=value&..." with names and values URI-encoded, sorted by encoded name
// then encoded value. A parameter without value is "name=". The same string is
// used both in the URL and in the canonical request, so what is sent is what
// is signed.
std::string CanonicalQueryString(const Params& query);

// "20130524T000000Z" for a UTC time.
std::string AmzDate(std::time_t t);

struct Request {
  std::string method;  // "GET", "PUT", ...
  // The path exactly as sent, already URI-encoded ("/bucket/a%20b.txt").
  std::string canonical_uri;
  Params query;  // raw (not encoded) names and values
  // Headers to sign; names in any case, values are trimmed. Must include
  // "host" and "x-amz-date" (and for S3 "x-amz-content-sha256").
  Params headers;
  std::string payload_sha256;  // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
};

struct Scope {
  std::string amz_date;  // "20130524T000000Z"; its first 8 characters are the date
  std::string region;    // "us-east-1"
  std::string service;   // "s3"
};

// The steps, exposed for tests against AWS's published examples.
std::string CanonicalRequest(const Request& request, std::string* signed_headers);
std::string StringToSign(const Scope& scope, std::string_view canonical_request);
std::string SigningKey(std::string_view secret_access_key, const Scope& scope);

// The value of the Authorization header:
// "AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request,
//  SignedHeaders=host;...,Signature=<hex>".
std::string Authorization(const Request& request, const Credentials& credentials,
                          const Scope& scope);

}  // namespace inlet::storage::sigv4
