// libFuzzer target for the publish body parser: any bytes as a body, under
// each content type and encoding. It must never crash, every event it
// accepts must be a slice of the decoded body that is one JSON object, and
// NDJSON gets the same answer checked at once or line by line.
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
  BodyLimits limits{4096, 1 << 20, 64, (mode & 8) ? "/id" : ""};
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
  // NDJSON is checked in one pass when every line is an object, and line by
  // line otherwise: the line-by-line check must give the same answer.
  if ((mode & 4) && (mode & 3) == 0) {
    static BodyParser line_by_line;
    line_by_line.set_ndjson_one_pass(false);
    ParsedBody other;
    std::string again(reinterpret_cast<const char*>(data + 1), size - 1);
    if (!line_by_line.Decode(std::move(again), "", limits, &error).ok() ||
        !line_by_line.Parse(BodyFormat::kNdjson, limits, &other, &error).ok() ||
        other.events != out.events || other.indexes != out.indexes ||
        other.partition_hashes != out.partition_hashes ||
        other.rejected.size() != out.rejected.size()) {
      __builtin_trap();
    }
    for (size_t i = 0; i < other.rejected.size(); ++i) {
      if (other.rejected[i].index != out.rejected[i].index ||
          other.rejected[i].category != out.rejected[i].category)
        __builtin_trap();
    }
  }
  return 0;
}
