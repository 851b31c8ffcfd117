// Small POSIX file helpers with the durability steps spelled out once:
// complete writes, directory fsync, and atomic replace (temp, fsync, rename,
// fsync dir). Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace inlet {

// Write all n bytes, retrying short writes and EINTR. False with errno set.
bool WriteAll(int fd, const void* data, size_t n);
bool PwriteAll(int fd, const void* data, size_t n, uint64_t offset);

// fsync of a directory, so that a create, rename or unlink in it is durable.
Status FsyncDir(const std::filesystem::path& dir);

// Replaces `path` atomically and durably with `content`.
Status AtomicWriteFile(const std::filesystem::path& path, std::string_view content);

// Reads a whole file. NotFound when it does not exist.
Result<std::string> ReadWholeFile(const std::filesystem::path& path);

}  // namespace inlet
