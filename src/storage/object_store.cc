#include "storage/object_store.h"

namespace inlet::storage {

Status ValidateObjectKey(std::string_view key) {
  auto bad = [&](const char* why) {
    return Status::InvalidArgument("invalid object key '" + std::string(key) + "': " + why);
  };
  if (key.empty()) return bad("empty");
  if (key.front() == '/') return bad("must be relative (no leading '/')");
  if (key.back() == '/') return bad("must not end with '/'");
  if (key.find('\0') != std::string_view::npos) return bad("contains a NUL byte");
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view segment = key.substr(start, end - start);
    if (segment.empty()) return bad("empty path segment ('//')");
    if (segment == "." || segment == "..") return bad("'.' and '..' segments are not allowed");
    start = end + 1;
  }
  return Status::Ok();
}

}  // namespace inlet::storage
