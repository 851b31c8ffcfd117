// Names the calling thread (Linux keeps the first 15 bytes), so that `top -H`,
// `ps -L`, perf and gdb show which part of inlet a thread belongs to.
#pragma once

#include <string_view>

namespace inlet {

void SetThreadName(std::string_view name);

}  // namespace inlet
