#include "delivery/stream_state.h"

#include <simdjson.h>

namespace inlet::delivery {

namespace {
constexpr int64_t kStateFormat = 1;
}

std::string StreamStateKey(std::string_view stream) {
  return "_state/" + std::string(stream) + ".json";
}

std::string EncodeStreamState(std::string_view stream, const StreamState& state) {
  std::string out = "{\"format\":" + std::to_string(kStateFormat) + ",\"stream\":\"" +
                    std::string(stream) + "\",\"committed\":" + std::to_string(state.committed) +
                    ",\"intent\":";
  if (state.intent) {
    out += "{\"first\":" + std::to_string(state.intent->first) +
           ",\"last\":" + std::to_string(state.intent->last) + "}";
  } else {
    out += "null";
  }
  return out + "}\n";
}

Result<StreamState> DecodeStreamState(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  auto bad = [](const std::string& why) {
    return Status::Corruption("delivery stream state: " + why);
  };
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) return bad("not JSON");
  int64_t format = 0;
  if (root["format"].get_int64().get(format) != simdjson::SUCCESS || format != kStateFormat) {
    return bad("unknown format");
  }
  StreamState state;
  if (root["committed"].get_uint64().get(state.committed) != simdjson::SUCCESS)
    return bad("no committed seq");
  simdjson::dom::element intent;
  if (root["intent"].get(intent) != simdjson::SUCCESS) return bad("no intent");
  if (!intent.is_null()) {
    StreamIntent i;
    if (intent["first"].get_uint64().get(i.first) != simdjson::SUCCESS ||
        intent["last"].get_uint64().get(i.last) != simdjson::SUCCESS || i.first > i.last) {
      return bad("invalid intent");
    }
    state.intent = i;
  }
  return state;
}

}  // namespace inlet::delivery
