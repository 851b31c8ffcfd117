// LakeMirror: keeps a local folder equal to the data objects of a remote
// lake (S3), so that the catalog, the crawler and DuckDB read Parquet files
// from local disk (DuckDB's httpfs extension cannot be installed offline).
// Each sync lists the remote lake, downloads new or changed objects
// atomically (temporary file, then rename) and removes local files whose
// object is gone. System areas (first segment starting with '_': _state/,
// _staging/, _catalog/) are neither mirrored nor touched. Start() syncs on a thread of its own;
// thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "storage/object_store.h"

namespace inlet::lake {

struct MirrorStats {
  uint64_t objects = 0;     // mirrored objects after the sync
  uint64_t downloaded = 0;  // objects fetched by this sync
  uint64_t removed = 0;     // local files removed by this sync
  uint64_t bytes_downloaded = 0;
};

class LakeMirror {
 public:
  // `remote` must outlive the mirror; `cache_dir` is created when missing.
  LakeMirror(storage::ObjectStore* remote, std::filesystem::path cache_dir);
  ~LakeMirror();  // Stop()

  Result<MirrorStats> SyncOnce();
  // Syncs every `interval` until Stop (errors are logged and retried).
  void Start(std::chrono::milliseconds interval);
  void Stop();

  const std::filesystem::path& cache_dir() const { return cache_dir_; }

 private:
  storage::ObjectStore* remote_;
  const std::filesystem::path cache_dir_;
  std::mutex sync_mu_;  // one sync at a time
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// True for the keys a mirror copies: a first segment not starting with '_'
// and no segment starting with '.' (temporary files).
bool IsMirroredKey(std::string_view key);

}  // namespace inlet::lake
