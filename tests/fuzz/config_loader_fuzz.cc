// libFuzzer target for the configuration loader: any text as the YAML file.
// It must never crash: a bad file is an error naming file, line and key.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  auto cfg = inlet::config::ParseConfig(std::string_view(reinterpret_cast<const char*>(data), size),
                                        "fuzz.yaml");
  if (!cfg.ok() && cfg.status().message().find("fuzz.yaml") == std::string::npos) __builtin_trap();
  return 0;
}
