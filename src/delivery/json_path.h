// A minimal JSON path over object keys ("$.device.os", ".device.os",
// "device.os", "$['odd key']"), used for partition keys and the event-time
// field. Plain values; thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace inlet::delivery {

struct JsonPath {
  std::vector<std::string> keys;  // object keys from the root
  std::string ToString() const;   // "$.device.os"
};

Result<JsonPath> ParseJsonPath(std::string_view text);

}  // namespace inlet::delivery
