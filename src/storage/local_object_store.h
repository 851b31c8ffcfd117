// LocalObjectStore: the ObjectStore on a local directory. A put writes a
// temporary file next to its target (".<name>.tmp-<pid>-<n>"), fsyncs it,
// renames it over the target and fsyncs the directory, so an object is
// either complete or absent after a crash. Thread-safe.
#pragma once

#include <atomic>
#include <filesystem>

#include "storage/object_store.h"

namespace inlet::storage {

class LocalObjectStore : public ObjectStore {
 public:
  // Creates `root` if needed.
  static Result<std::unique_ptr<LocalObjectStore>> Open(const std::filesystem::path& root);

  Status PutBytes(std::string_view key, std::string_view data) override;
  Status PutFile(std::string_view key, const std::filesystem::path& local_file) override;
  Result<std::string> Get(std::string_view key) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Status Delete(std::string_view key) override;
  Result<bool> Exists(std::string_view key) override;
  std::optional<std::filesystem::path> LocalPath(std::string_view key) const override;
  std::string Describe() const override;

  const std::filesystem::path& root() const { return root_; }
  // Removes temporary files left by puts interrupted by a crash under `prefix`.
  Status RemoveTemporaryFiles(std::string_view prefix = "");

 private:
  explicit LocalObjectStore(std::filesystem::path root) : root_(std::move(root)) {}
  // Creates the parent directories of `path` and fsyncs each new one's parent.
  Status EnsureParent(const std::filesystem::path& path);
  std::filesystem::path TempPathFor(const std::filesystem::path& target);
  // fsync(temp), rename(temp, target), fsync(parent of target).
  Status Commit(const std::filesystem::path& temp, const std::filesystem::path& target);

  std::filesystem::path root_;
  std::atomic<uint64_t> counter_{0};
};

}  // namespace inlet::storage
