// S3ObjectStore: the ObjectStore on an S3 bucket (AWS, MinIO, Ceph radosgw)
// over libcurl, signed with AWS Signature V4. A put is atomic by S3's rules
// (a single PUT, or a multipart upload that is completed or aborted); failed
// requests are retried with exponential backoff and jitter on 5xx, 429/503
// SlowDown and connection errors. Thread-safe: calls share a small pool of
// curl handles (and so their keep-alive connections).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/object_store.h"

namespace inlet::storage {

struct S3Options {
  // "http://127.0.0.1:7480" or "https://s3.eu-west-1.amazonaws.com"; no path.
  std::string endpoint;
  std::string region = "us-east-1";
  std::string bucket;
  // Keys are stored as prefix + "/" + key; leading/trailing '/' are ignored.
  std::string prefix;
  // Empty: filled by ResolveCredentials.
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // temporary credentials only
  // true: http://host/bucket/key; false: http://bucket.host/key.
  bool path_style = true;
  // Objects of this size or more go up as a multipart upload of part_size
  // parts (S3 needs at least 5 MiB per part but the last).
  uint64_t multipart_threshold = 16ull << 20;
  uint64_t part_size = 8ull << 20;
  // Attempts per request (1 = no retry); delays grow from retry_base_delay,
  // doubling up to retry_max_delay, with random jitter.
  int max_attempts = 5;
  std::chrono::milliseconds retry_base_delay{200};
  std::chrono::milliseconds retry_max_delay{5000};
  std::chrono::milliseconds connect_timeout{5000};
  // Whole request, upload of one part included.
  std::chrono::milliseconds request_timeout{60000};
  // Keys per ListObjectsV2 page (S3's maximum and default: 1000).
  int list_page_size = 1000;
};

// Fills missing credentials: the environment (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), else the profile AWS_PROFILE
// (default "default") of the file AWS_SHARED_CREDENTIALS_FILE (default
// ~/.aws/credentials). Keeps credentials already set. Error when none found.
Status ResolveCredentials(S3Options* options);

class S3ObjectStore : public ObjectStore {
 public:
  // Validates the options and checks that the bucket exists and that the
  // credentials are accepted; the error names the endpoint, the bucket and
  // S3's error code. Credentials must be set (see ResolveCredentials).
  static Result<std::unique_ptr<S3ObjectStore>> Open(S3Options options);
  // Same without contacting the server (for CreateBucket, or tests).
  static Result<std::unique_ptr<S3ObjectStore>> OpenUnchecked(S3Options options);
  ~S3ObjectStore() override;

  Status PutBytes(std::string_view key, std::string_view data) override;
  // Uploads the file, then removes it (whatever the outcome).
  Status PutFile(std::string_view key, const std::filesystem::path& local_file) override;
  Result<std::string> Get(std::string_view key) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Status Delete(std::string_view key) override;
  Result<bool> Exists(std::string_view key) override;
  std::string Describe() const override;  // "s3://bucket/prefix"

  // Creates the bucket; OK when it already exists and is ours.
  Status CreateBucket();
  // HEAD of the bucket (with a detailed error from a list request on failure).
  Status CheckBucket();

  const S3Options& options() const { return options_; }

  struct Http;  // the libcurl side (s3_object_store.cc)

 private:
  explicit S3ObjectStore(S3Options options);

  Status PutMultipart(const std::string& full_key, uint64_t size,
                      const std::function<Result<std::string_view>(uint64_t offset, uint64_t len,
                                                                   std::string* buffer)>& read);

  S3Options options_;
  std::unique_ptr<Http> http_;
};

}  // namespace inlet::storage
