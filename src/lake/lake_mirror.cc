#include "lake/lake_mirror.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <fstream>
#include <set>

namespace inlet::lake {

namespace fs = std::filesystem;

bool IsMirroredKey(std::string_view key) {
  if (key.empty() || key.front() == '_') return false;  // _state/, _staging/, _catalog/
  size_t start = 0;
  while (start < key.size()) {
    if (key[start] == '.') return false;
    const size_t slash = key.find('/', start);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return !key.empty();
}

LakeMirror::LakeMirror(storage::ObjectStore* remote, fs::path cache_dir)
    : remote_(remote), cache_dir_(std::move(cache_dir)) {}

LakeMirror::~LakeMirror() { Stop(); }

Result<MirrorStats> LakeMirror::SyncOnce() {
  std::lock_guard sync(sync_mu_);
  MirrorStats stats;
  auto listed = remote_->List("");
  if (!listed.ok())
    return Status(listed.status().code(),
                  "listing the lake " + remote_->Describe() + ": " + listed.status().message());
  std::set<std::string> wanted;
  std::error_code ec;
  for (const auto& obj : *listed) {
    if (!IsMirroredKey(obj.key)) continue;
    wanted.insert(obj.key);
    const fs::path local = cache_dir_ / obj.key;
    const auto size = fs::file_size(local, ec);
    if (!ec && size == obj.size) continue;
    auto data = remote_->Get(obj.key);
    if (!data.ok()) {
      if (data.status().code() == StatusCode::kNotFound) continue;  // deleted since the listing
      return Status(data.status().code(),
                    "downloading " + obj.key + ": " + data.status().message());
    }
    fs::create_directories(local.parent_path(), ec);
    const fs::path temp = local.parent_path() /
                          ("." + local.filename().string() + ".part-" + std::to_string(getpid()));
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      out.write(data->data(), static_cast<std::streamsize>(data->size()));
      if (!out) return Status::IoError("cannot write " + temp.string());
    }
    fs::rename(temp, local, ec);
    if (ec) return Status::IoError("cannot rename " + temp.string() + ": " + ec.message());
    ++stats.downloaded;
    stats.bytes_downloaded += data->size();
  }
  if (fs::exists(cache_dir_, ec)) {
    std::vector<fs::path> stale;
    for (auto it = fs::recursive_directory_iterator(cache_dir_, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (!it->is_regular_file()) continue;
      const std::string key = fs::relative(it->path(), cache_dir_).generic_string();
      if (IsMirroredKey(key) && !wanted.count(key)) stale.push_back(it->path());
    }
    for (const auto& path : stale) {
      if (fs::remove(path, ec)) ++stats.removed;
    }
  }
  stats.objects = wanted.size();
  return stats;
}

void LakeMirror::Start(std::chrono::milliseconds interval) {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this, interval] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      auto st = SyncOnce();
      if (!st.ok()) {
        spdlog::warn("lake mirror: {}", st.status().ToString());
      } else if (st->downloaded + st->removed > 0) {
        spdlog::debug("lake mirror: {} downloaded, {} removed, {} objects", st->downloaded,
                      st->removed, st->objects);
      }
      lock.lock();
      cv_.wait_for(lock, interval, [&] { return stop_; });
    }
  });
}

void LakeMirror::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace inlet::lake
