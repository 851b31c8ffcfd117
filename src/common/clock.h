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

#include <string>

namespace inlet {

// "2026-11-27T04:35:16.690188Z" (UTC, microseconds).
std::string FormatRfc3339Micros(int64_t micros_since_epoch);

}  // namespace inlet
