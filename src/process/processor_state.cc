#include "process/processor_state.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <iterator>

namespace inlet::process {
namespace {

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(ch);
    } else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      out->append(buf);
    } else {
      out->push_back(ch);
    }
  }
  out->push_back('"');
}

void AppendHeader(std::string_view processor, uint64_t commit, std::string* out) {
  *out = "{\"format\":1,\"processor\":";
  AppendJsonString(processor, out);
  *out += ",\"commit\":" + std::to_string(commit);
}

Status Bad(std::string_view what) {
  return Status::Corruption("processor state: " + std::string(what));
}

}  // namespace

bool SeqSet::Contains(uint64_t seq) const {
  auto it = ranges_.upper_bound(seq);
  if (it == ranges_.begin()) return false;
  --it;
  return seq <= it->second;
}

void SeqSet::Insert(uint64_t seq) { InsertRange(seq, seq); }

void SeqSet::InsertRange(uint64_t first, uint64_t last) {
  // Extends the range that reaches `first` in place when there is one (ids
  // mostly come in order), else adds one; then absorbs the ranges it reaches.
  auto it = ranges_.upper_bound(first);
  if (it != ranges_.begin() && std::prev(it)->second + 1 >= first) {
    --it;
    it->second = std::max(it->second, last);
  } else {
    it = ranges_.emplace_hint(it, first, last);
  }
  for (auto next = std::next(it); next != ranges_.end() && next->first <= it->second + 1;) {
    it->second = std::max(it->second, next->second);
    next = ranges_.erase(next);
  }
}

uint64_t SeqSet::Compact(size_t max_ranges) {
  uint64_t added = 0;
  while (ranges_.size() > max_ranges && ranges_.size() >= 2) {
    auto first = ranges_.begin();
    auto second = std::next(first);
    added += second->first - first->second - 1;
    first->second = second->second;
    ranges_.erase(second);
  }
  return added;
}

std::string ProcessorStateKey(std::string_view processor) {
  return "_state/processor-" + std::string(processor) + ".json";
}
std::string ProcessorIntentKey(std::string_view processor) {
  return "_state/processor-" + std::string(processor) + ".intent.json";
}
std::string ProcessorSnapshotKey(std::string_view processor, uint64_t commit) {
  return "_state/processor-" + std::string(processor) + "-" + std::to_string(commit) + ".windows";
}
std::string ProcessorDeltaKey(std::string_view processor, uint64_t commit) {
  return "_state/processor-" + std::string(processor) + "-" + std::to_string(commit) + ".delta";
}

std::string EncodeProcessorState(std::string_view processor, const ProcessorState& state) {
  std::string out;
  AppendHeader(processor, state.commit, &out);
  out += ",\"snapshot\":";
  AppendJsonString(state.snapshot, &out);
  if (!state.deltas.empty()) {
    out += ",\"deltas\":[";
    for (size_t i = 0; i < state.deltas.size(); ++i) {
      if (i > 0) out += ',';
      AppendJsonString(state.deltas[i], &out);
    }
    out += ']';
  }
  out += ",\"processed\":[";
  bool first = true;
  for (const auto& [a, b] : state.processed.ranges()) {
    if (!first) out += ',';
    first = false;
    out += '[' + std::to_string(a) + ',' + std::to_string(b) + ']';
  }
  out += "]}\n";
  return out;
}

Result<ProcessorState> DecodeProcessorState(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) return Bad("not JSON");
  ProcessorState st;
  int64_t format = 0;
  std::string_view snapshot;
  simdjson::dom::array processed;
  if (root["format"].get_int64().get(format) != simdjson::SUCCESS || format != 1)
    return Bad("unknown format");
  if (root["commit"].get_uint64().get(st.commit) != simdjson::SUCCESS ||
      root["snapshot"].get_string().get(snapshot) != simdjson::SUCCESS ||
      root["processed"].get_array().get(processed) != simdjson::SUCCESS)
    return Bad("missing commit, snapshot or processed");
  st.snapshot = std::string(snapshot);
  simdjson::dom::array deltas;
  if (root["deltas"].get_array().get(deltas) == simdjson::SUCCESS) {
    for (simdjson::dom::element d : deltas) {
      std::string_view key;
      if (d.get_string().get(key) != simdjson::SUCCESS) return Bad("bad delta key");
      st.deltas.emplace_back(key);
    }
  }
  for (simdjson::dom::element range : processed) {
    simdjson::dom::array pair;
    uint64_t a = 0, b = 0;
    if (range.get_array().get(pair) != simdjson::SUCCESS || pair.size() != 2 ||
        pair.at(0).get_uint64().get(a) != simdjson::SUCCESS ||
        pair.at(1).get_uint64().get(b) != simdjson::SUCCESS || b < a)
      return Bad("bad range in processed");
    st.processed.InsertRange(a, b);
  }
  return st;
}

std::string EncodeProcessorIntent(std::string_view processor, const ProcessorIntent& intent) {
  std::string out;
  AppendHeader(processor, intent.commit, &out);
  out += ",\"keys\":[";
  for (size_t i = 0; i < intent.keys.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(intent.keys[i], &out);
  }
  out += "]}\n";
  return out;
}

Result<ProcessorIntent> DecodeProcessorIntent(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) return Bad("not JSON");
  ProcessorIntent in;
  int64_t format = 0;
  simdjson::dom::array keys;
  if (root["format"].get_int64().get(format) != simdjson::SUCCESS || format != 1 ||
      root["commit"].get_uint64().get(in.commit) != simdjson::SUCCESS ||
      root["keys"].get_array().get(keys) != simdjson::SUCCESS)
    return Bad("bad intent");
  for (simdjson::dom::element k : keys) {
    std::string_view key;
    if (k.get_string().get(key) != simdjson::SUCCESS) return Bad("bad intent key");
    in.keys.emplace_back(key);
  }
  return in;
}

}  // namespace inlet::process
