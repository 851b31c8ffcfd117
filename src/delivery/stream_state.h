// The durable state of a delivery stream, one small object per stream in the
// lake (`_state/<stream>.json`): the last committed sequence id and, while a
// range is being written, the intent {first, last} of that range. This is
// what makes delivery exactly-once (see docs/delivery.md). Plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace inlet::delivery {

struct StreamIntent {
  uint64_t first = 0;
  uint64_t last = 0;
  bool operator==(const StreamIntent&) const = default;
};

struct StreamState {
  // Every delivered event with seq <= committed is in the lake.
  uint64_t committed = 0;
  // Set from before the first file of a range is written until the range is
  // committed; a restart re-assembles exactly this range.
  std::optional<StreamIntent> intent;
  bool operator==(const StreamState&) const = default;
};

std::string StreamStateKey(std::string_view stream);
// {"format":1,"stream":"s","committed":12,"intent":{"first":13,"last":20}}
std::string EncodeStreamState(std::string_view stream, const StreamState& state);
Result<StreamState> DecodeStreamState(std::string_view json);

}  // namespace inlet::delivery
