#include "storage/local_object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace inlet::storage {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kTempMarker = ".tmp-";
constexpr size_t kCopyBufferBytes = 1 << 20;

Status FsyncPath(const fs::path& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + path.string());
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::FromErrno(err, "fsync " + path.string());
  return Status::Ok();
}

Status WriteAll(int fd, const char* data, size_t size, const fs::path& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + path.string());
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

bool IsTemporary(const fs::path& p) {
  std::string name = p.filename().string();
  return !name.empty() && name[0] == '.' && name.find(kTempMarker) != std::string::npos;
}

}  // namespace

Result<std::unique_ptr<LocalObjectStore>> LocalObjectStore::Open(const fs::path& root) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec)
    return Status::IoError("cannot create lake directory " + root.string() + ": " + ec.message());
  fs::path abs = fs::absolute(root, ec);
  if (ec) return Status::IoError("cannot resolve " + root.string() + ": " + ec.message());
  return std::unique_ptr<LocalObjectStore>(new LocalObjectStore(abs.lexically_normal()));
}

std::string LocalObjectStore::Describe() const { return "file://" + root_.string(); }

std::optional<fs::path> LocalObjectStore::LocalPath(std::string_view key) const {
  if (!ValidateObjectKey(key).ok()) return std::nullopt;
  return root_ / fs::path(std::string(key));
}

Status LocalObjectStore::EnsureParent(const fs::path& path) {
  fs::path parent = path.parent_path();
  std::vector<fs::path> missing;
  for (fs::path p = parent; p != root_ && !fs::exists(p); p = p.parent_path()) missing.push_back(p);
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::FromErrno(errno, "mkdir " + it->string());
    }
    // The new directory entry must itself be durable.
    INLET_RETURN_IF_ERROR(FsyncPath(it->parent_path(), true));
  }
  return Status::Ok();
}

fs::path LocalObjectStore::TempPathFor(const fs::path& target) {
  std::string name = "." + target.filename().string() + std::string(kTempMarker) +
                     std::to_string(::getpid()) + "-" + std::to_string(counter_.fetch_add(1));
  return target.parent_path() / name;
}

Status LocalObjectStore::Commit(const fs::path& temp, const fs::path& target) {
  Status st = FsyncPath(temp, false);
  if (st.ok() && ::rename(temp.c_str(), target.c_str()) != 0) {
    st = Status::FromErrno(errno, "rename " + temp.string() + " to " + target.string());
  }
  if (!st.ok()) {
    ::unlink(temp.c_str());
    return st;
  }
  return FsyncPath(target.parent_path(), true);
}

Status LocalObjectStore::PutBytes(std::string_view key, std::string_view data) {
  INLET_RETURN_IF_ERROR(ValidateObjectKey(key));
  fs::path target = root_ / fs::path(std::string(key));
  INLET_RETURN_IF_ERROR(EnsureParent(target));
  fs::path temp = TempPathFor(target);
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno(errno, "create " + temp.string());
  Status st = WriteAll(fd, data.data(), data.size(), temp);
  ::close(fd);
  if (!st.ok()) {
    ::unlink(temp.c_str());
    return st;
  }
  return Commit(temp, target);
}

Status LocalObjectStore::PutFile(std::string_view key, const fs::path& local_file) {
  INLET_RETURN_IF_ERROR(ValidateObjectKey(key));
  fs::path target = root_ / fs::path(std::string(key));
  INLET_RETURN_IF_ERROR(EnsureParent(target));
  fs::path temp = TempPathFor(target);
  // Same filesystem: move the file (no copy); otherwise copy it.
  if (::rename(local_file.c_str(), temp.c_str()) != 0) {
    if (errno != EXDEV) return Status::FromErrno(errno, "rename " + local_file.string());
    int in = ::open(local_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return Status::FromErrno(errno, "open " + local_file.string());
    int out = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
      int err = errno;
      ::close(in);
      return Status::FromErrno(err, "create " + temp.string());
    }
    std::string buffer(kCopyBufferBytes, '\0');
    Status st;
    for (;;) {
      ssize_t n = ::read(in, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        st = Status::FromErrno(errno, "read " + local_file.string());
        break;
      }
      if (n == 0) break;
      st = WriteAll(out, buffer.data(), static_cast<size_t>(n), temp);
      if (!st.ok()) break;
    }
    ::close(in);
    ::close(out);
    ::unlink(local_file.c_str());
    if (!st.ok()) {
      ::unlink(temp.c_str());
      return st;
    }
  }
  return Commit(temp, target);
}

Result<std::string> LocalObjectStore::Get(std::string_view key) {
  INLET_RETURN_IF_ERROR(ValidateObjectKey(key));
  fs::path path = root_ / fs::path(std::string(key));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return Status::NotFound("no object '" + std::string(key) + "' in " + Describe());
    return Status::FromErrno(errno, "open " + path.string());
  }
  std::string out;
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Status::FromErrno(err, "read " + path.string());
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<std::vector<ObjectInfo>> LocalObjectStore::List(std::string_view prefix) {
  // Walk from the deepest directory the prefix names completely.
  std::string dir_part(
      prefix.substr(0, prefix.rfind('/') == std::string_view::npos ? 0 : prefix.rfind('/')));
  fs::path start = dir_part.empty() ? root_ : root_ / dir_part;
  std::vector<ObjectInfo> out;
  std::error_code ec;
  if (!fs::is_directory(start, ec)) return out;
  for (fs::recursive_directory_iterator it(start, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec) || IsTemporary(it->path())) continue;
    std::string key = it->path().lexically_relative(root_).generic_string();
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    out.push_back(ObjectInfo{std::move(key), static_cast<uint64_t>(it->file_size(ec))});
  }
  if (ec) return Status::IoError("list " + start.string() + ": " + ec.message());
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

Status LocalObjectStore::Delete(std::string_view key) {
  INLET_RETURN_IF_ERROR(ValidateObjectKey(key));
  fs::path path = root_ / fs::path(std::string(key));
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return Status::FromErrno(errno, "unlink " + path.string());
  }
  return FsyncPath(path.parent_path(), true);
}

Result<bool> LocalObjectStore::Exists(std::string_view key) {
  INLET_RETURN_IF_ERROR(ValidateObjectKey(key));
  struct stat st;
  fs::path path = root_ / fs::path(std::string(key));
  if (::stat(path.c_str(), &st) == 0) return S_ISREG(st.st_mode);
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return Status::FromErrno(errno, "stat " + path.string());
}

Status LocalObjectStore::RemoveTemporaryFiles(std::string_view prefix) {
  fs::path start = prefix.empty() ? root_ : root_ / std::string(prefix);
  std::error_code ec;
  if (!fs::is_directory(start, ec)) return Status::Ok();
  std::vector<fs::path> stale;
  for (fs::recursive_directory_iterator it(start, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && IsTemporary(it->path())) stale.push_back(it->path());
  }
  if (ec) return Status::IoError("scan " + start.string() + ": " + ec.message());
  for (const fs::path& p : stale) fs::remove(p, ec);
  return Status::Ok();
}

}  // namespace inlet::storage
