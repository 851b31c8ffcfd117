// libFuzzer target for the publish body parser: any bytes as a body, under
// each content type and encoding. It must never crash, and every event it
// accepts must be a slice of the decoded body that is one JSON object.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ingest/body_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using namespace inlet::ingest;
  static BodyParser parser;
  const uint8_t mode = data[0];
  std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  const char* encodings[] = {"", "gzip", "zstd", "identity"};
  BodyLimits limits{4096, 1 << 20, 64};
  BodyError error = BodyError::kNone;
  inlet::Status st = parser.Decode(std::move(body), encodings[mode & 3], limits, &error);
  if (!st.ok()) return 0;
  ParsedBody out;
  st = parser.Parse((mode & 4) ? BodyFormat::kNdjson : BodyFormat::kJson, limits, &out, &error);
  if (!st.ok()) return 0;
  if (out.events.size() != out.indexes.size() || out.events.size() > limits.max_events)
    __builtin_trap();
  for (auto ev : out.events) {
    if (ev.empty() || ev.front() != '{' || ev.back() != '}' || ev.size() > limits.max_event_bytes)
      __builtin_trap();
  }
  return 0;
}
