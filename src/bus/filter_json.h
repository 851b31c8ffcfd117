// Internal to the filter-policy code: a reusable simdjson DOM parser with its
// own padded input buffer, so that parsing a message allocates nothing once
// the buffers have grown to the message size. Not thread-safe; a parsed
// document stays valid until the next Parse() on the same object.
#pragma once

#include <simdjson.h>

#include <cstring>
#include <string_view>
#include <vector>

namespace inlet::bus::filter_internal {

class PaddedParser {
 public:
  simdjson::error_code Parse(std::string_view json, simdjson::dom::element* root) {
    const size_t needed = json.size() + simdjson::SIMDJSON_PADDING;
    if (buffer_.size() < needed) buffer_.resize(needed);
    if (!json.empty()) std::memcpy(buffer_.data(), json.data(), json.size());
    std::memset(buffer_.data() + json.size(), 0, simdjson::SIMDJSON_PADDING);
    return parser_.parse(buffer_.data(), json.size(), false).get(*root);
  }

 private:
  simdjson::dom::parser parser_;
  std::vector<char> buffer_;
};

}  // namespace inlet::bus::filter_internal
