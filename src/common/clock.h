// Wall-clock helpers in microseconds since the Unix epoch (UTC).
#pragma once

#include <chrono>
#include <cstdint>

namespace inlet {

inline int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace inlet
