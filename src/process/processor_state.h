// The durable state of one processor in the lake, what makes its outputs
// exactly-once (docs/processing.md, "Delivery guarantees"): the committed
// state `_state/processor-<name>.json` (commit number, the set of processed
// sequence ids as ranges, the key of the window snapshot) and, while a commit
// is being written, its intent `_state/processor-<name>.intent.json` (the
// objects that commit writes, deleted again if it never commits). Plain
// values; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace inlet::process {

// A set of sequence ids kept as disjoint closed ranges.
class SeqSet {
 public:
  bool Contains(uint64_t seq) const;
  void Insert(uint64_t seq);
  void InsertRange(uint64_t first, uint64_t last);  // first <= last
  // Merges the lowest gaps until at most `max_ranges` ranges remain (a
  // message of a merged gap that arrives later is treated as processed).
  // Returns the number of ids added that way.
  uint64_t Compact(size_t max_ranges);
  const std::map<uint64_t, uint64_t>& ranges() const { return ranges_; }  // first -> last
  bool operator==(const SeqSet&) const = default;

 private:
  std::map<uint64_t, uint64_t> ranges_;
};

struct ProcessorState {
  uint64_t commit = 0;   // number of the last commit (0: none)
  SeqSet processed;      // every seq whose outputs are committed
  std::string snapshot;  // key of the window snapshot of this commit ("" when none)
  // Window deltas written since `snapshot` (oldest first): replayed on top of
  // it (PresenceAggregator::ApplyJournal) to give this commit's windows.
  std::vector<std::string> deltas;
  bool operator==(const ProcessorState&) const = default;
};

struct ProcessorIntent {
  uint64_t commit = 0;
  std::vector<std::string> keys;  // objects written by that commit
  bool operator==(const ProcessorIntent&) const = default;
};

std::string ProcessorStateKey(std::string_view processor);
std::string ProcessorIntentKey(std::string_view processor);
std::string ProcessorSnapshotKey(std::string_view processor, uint64_t commit);
std::string ProcessorDeltaKey(std::string_view processor, uint64_t commit);

// {"format":1,"processor":"p","commit":3,"snapshot":"...","deltas":["..."],
//  "processed":[[1,20],[25,30]]} ("deltas" only when there are some).
std::string EncodeProcessorState(std::string_view processor, const ProcessorState& state);
Result<ProcessorState> DecodeProcessorState(std::string_view json);
// {"format":1,"processor":"p","commit":4,"keys":["curated/...parquet",...]}
std::string EncodeProcessorIntent(std::string_view processor, const ProcessorIntent& intent);
Result<ProcessorIntent> DecodeProcessorIntent(std::string_view json);

}  // namespace inlet::process
