// PresenceAggregator: the aggregate stage (poi_presence). For each
// event-time tumbling window, POI, age band and gender it counts distinct
// persons (by a 64-bit hash of their pseudonym) and events. Windows close
// when the watermark (highest event time seen minus the allowed lateness)
// passes their end; events for a closed window are reported late. State is
// sharded by person so that workers add in parallel and counts add up
// exactly. Thread-safe: Add from any worker, TakeReady from one emitter.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "process/poi_index.h"
#include "process/process_config.h"

namespace inlet::process {

// Gender codes of the aggregate: index into GenderLabel.
enum class Gender : uint8_t { kUnknown = 0, kFemale = 1, kMale = 2 };
const char* GenderLabel(int code);
int GenderCode(std::string_view normalized);  // "female" -> 1

struct PresenceInput {
  int64_t time_us = 0;
  double lat = 0;
  double lon = 0;
  uint8_t band = 0;    // AgeBands index (0: unknown)
  uint8_t gender = 0;  // Gender
  uint64_t person = 0;
};

struct PresenceRow {
  int64_t window_start_us = 0;
  uint32_t poi = 0;  // index into PoiIndex::pois()
  uint8_t band = 0;
  uint8_t gender = 0;
  uint64_t persons = 0;
  uint64_t events = 0;
  auto operator<=>(const PresenceRow&) const = default;
};

struct EmittedWindow {
  int64_t start_us = 0;
  std::vector<PresenceRow> rows;  // sorted by poi, band, gender
  bool forced = false;            // closed early by max_open_windows
};

struct AggregatorStats {
  uint64_t open_windows = 0;
  uint64_t late_events = 0;
  uint64_t persons_overflow = 0;  // person entries not tracked because of max_persons_per_window
  uint64_t forced_windows = 0;
};

class PresenceAggregator {
 public:
  // `index` must outlive the aggregator.
  PresenceAggregator(const PoiIndex* index, const AggregateConfig& config, int shards = 16);

  int64_t WindowStart(int64_t time_us) const;

  // The POIs of each input, found ahead of Add (read-only: any thread, no
  // lock): input i's are hits[offsets[i], offsets[i + 1]).
  struct Located {
    std::vector<uint32_t> hits;
    std::vector<uint32_t> offsets;
  };
  void Locate(std::span<const PresenceInput> inputs, Located* out) const;

  // Adds events; sets late[i] for those whose window was already emitted
  // (they are not counted). REQUIRES: late.size() == inputs.size(), and
  // `located`, when given, from Locate(inputs).
  void Add(std::span<const PresenceInput> inputs, std::span<uint8_t> late,
           const Located* located = nullptr);

  // Closes windows: those ending at or before the watermark, the oldest ones
  // beyond max_open_windows, and every window when `all` is set (shutdown of
  // a bounded input, tests) or when no event arrived for idle_close before
  // `now_us` (wall clock). Windows come out in time order.
  std::vector<EmittedWindow> TakeReady(bool all, int64_t now_us);

  // Highest event time seen minus the allowed lateness (INT64_MIN before any event).
  int64_t watermark() const;
  // Every window starting before this was emitted.
  int64_t emitted_until() const { return emitted_until_.load(); }
  AggregatorStats Stats() const;

  // The whole window state (open windows with their distinct persons and
  // counts, watermark, emitted floor) as bytes, for the processor's
  // checkpoint; Restore replaces the state with a snapshot. Call both while no
  // Add or TakeReady runs (the processor's commit lock).
  std::string Snapshot() const;
  Status Restore(std::string_view snapshot);

  // The journal: every Add since the last TakeJournal (or Restore) as bytes
  // (windows touched, POI hits resolved, late count, highest event time).
  // ApplyJournal replays one on top of the state it was recorded against and
  // gives the same state as the Adds did, without POI lookups: the
  // processor's checkpoint writes a journal per batch instead of a whole
  // snapshot. Same threading rule as Snapshot.
  std::string TakeJournal();
  Status ApplyJournal(std::string_view journal);

 private:
  struct Cell {
    uint64_t events = 0;
    uint64_t persons = 0;
  };
  // A (cell, person) pair: cell is Key(poi, band, gender), person the hash
  // of the pseudonym (uniform, so it needs no mixing).
  struct Pair {
    uint64_t cell = 0;
    uint64_t person = 0;
    bool operator==(const Pair&) const = default;
  };
  struct PairHash {
    size_t operator()(const Pair& p) const { return p.person ^ (p.cell * 0x9E3779B97F4A7C15ull); }
  };
  // One flat map of (cell, person) -> events for the whole window: one probe
  // per POI hit counts both the distinct person and the event; a cell's
  // persons are its pairs and its events their sum (plus extra_events).
  struct Window {
    absl::flat_hash_map<Pair, uint64_t, PairHash> pairs;
    // Events of a cell not on any tracked pair: persons past
    // max_persons_per_window, and a restored snapshot's counts of cells
    // without persons.
    absl::flat_hash_map<uint64_t, uint64_t> extra_events;
  };
  struct Shard {
    std::mutex mu;
    std::map<int64_t, Window> windows;
    size_t last_pairs = 0;  // pairs of the shard's last closed window: a new one's size hint
  };
  // Counts one event per pair in `window` (the pairs of one or more events).
  void Count(Window* window, std::span<const Pair> pairs);
  static uint64_t Key(uint32_t poi, uint8_t band, uint8_t gender) {
    return static_cast<uint64_t>(poi) << 16 | static_cast<uint64_t>(band) << 8 | gender;
  }

  const PoiIndex* index_;
  AggregateConfig config_;
  int64_t window_us_;
  int64_t lateness_us_;
  uint64_t persons_per_shard_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::shared_mutex emit_mu_;  // shared: Add; exclusive: TakeReady
  std::mutex open_mu_;
  std::map<int64_t, bool> open_;  // window starts with state
  std::atomic<int64_t> max_event_time_{INT64_MIN};
  std::atomic<int64_t> emitted_until_{INT64_MIN};
  std::atomic<int64_t> last_event_wall_us_{0};
  std::atomic<uint64_t> late_{0}, overflow_{0}, forced_{0};
  std::mutex journal_mu_;
  std::string journal_;
};

}  // namespace inlet::process
