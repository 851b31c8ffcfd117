// ObjectStore: the lake's storage interface (S3 semantics): atomic puts of a
// whole object, get, list by key prefix, delete, exists. Keys are
// '/'-separated relative names ("raw/events/year=2024/x.parquet"). The local
// filesystem and S3 implement it; implementations are thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace inlet::storage {

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Stores `data` under `key`, replacing any previous object. Atomic and
  // durable: on OK a reader sees the whole object even after a crash; on
  // error it sees the previous object or none, never a torn one.
  virtual Status PutBytes(std::string_view key, std::string_view data) = 0;
  // Same, with the content of a local file. The implementation may move the
  // file instead of copying it: the caller must not use `local_file` after
  // the call, whatever the outcome.
  virtual Status PutFile(std::string_view key, const std::filesystem::path& local_file) = 0;
  // The whole object; kNotFound when absent.
  virtual Result<std::string> Get(std::string_view key) = 0;
  // Objects whose key starts with `prefix`, sorted by key. Objects being
  // written (temporary files) are not listed.
  virtual Result<std::vector<ObjectInfo>> List(std::string_view prefix) = 0;
  // Removes an object; OK when it does not exist.
  virtual Status Delete(std::string_view key) = 0;
  virtual Result<bool> Exists(std::string_view key) = 0;

  // Where `key` lives on the local filesystem, for readers that open files
  // directly (DuckDB). nullopt for remote stores.
  virtual std::optional<std::filesystem::path> LocalPath(std::string_view key) const {
    (void)key;
    return std::nullopt;
  }
  // "file:///data/lake" or "s3://bucket/prefix", for logs and the catalog.
  virtual std::string Describe() const = 0;
};

// Checks a key: non-empty, relative, no empty, "." or ".." segments, no NUL,
// no trailing '/'. Every implementation calls it before touching storage.
Status ValidateObjectKey(std::string_view key);

}  // namespace inlet::storage
