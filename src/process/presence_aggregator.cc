#include "process/presence_aggregator.h"

#include <algorithm>
#include <chrono>

namespace inlet::process {
namespace {

int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const char* GenderLabel(int code) {
  switch (code) {
    case 1:
      return "female";
    case 2:
      return "male";
    default:
      return "unknown";
  }
}

int GenderCode(std::string_view normalized) {
  if (normalized == "female") return 1;
  if (normalized == "male") return 2;
  return 0;
}

PresenceAggregator::PresenceAggregator(const PoiIndex* index, const AggregateConfig& config,
                                       int shards)
    : index_(index),
      config_(config),
      window_us_(config.window.count() * 1000),
      lateness_us_(config.allowed_lateness.count() * 1000),
      persons_per_shard_((config.max_persons_per_window + shards - 1) / shards) {
  for (int i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

int64_t PresenceAggregator::WindowStart(int64_t time_us) const {
  int64_t q = time_us / window_us_;
  if (time_us % window_us_ < 0) --q;
  return q * window_us_;
}

int64_t PresenceAggregator::watermark() const {
  int64_t m = max_event_time_.load();
  return m == INT64_MIN ? m : m - lateness_us_;
}

void PresenceAggregator::Add(std::span<const PresenceInput> inputs, std::span<uint8_t> late) {
  std::shared_lock emit_lock(emit_mu_);
  const int64_t floor = emitted_until_.load();
  int64_t max_time = INT64_MIN;
  std::vector<uint32_t> hits;
  // Events grouped by shard so that each shard is locked once per batch.
  std::vector<std::vector<uint32_t>> by_shard(shards_.size());
  std::vector<int64_t> new_windows;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int64_t w = WindowStart(inputs[i].time_us);
    if (w < floor) {
      late[i] = 1;
      late_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    late[i] = 0;
    max_time = std::max(max_time, inputs[i].time_us);
    by_shard[inputs[i].person % shards_.size()].push_back(static_cast<uint32_t>(i));
  }
  for (size_t s = 0; s < shards_.size(); ++s) {
    if (by_shard[s].empty()) continue;
    Shard& shard = *shards_[s];
    std::lock_guard lock(shard.mu);
    int64_t last_window = INT64_MIN;
    Window* window = nullptr;
    for (uint32_t i : by_shard[s]) {
      const PresenceInput& in = inputs[i];
      const int64_t w = WindowStart(in.time_us);
      if (w != last_window) {
        auto [it, inserted] = shard.windows.try_emplace(w);
        if (inserted) new_windows.push_back(w);
        window = &it->second;
        last_window = w;
      }
      hits.clear();
      index_->Find(in.lat, in.lon, &hits);
      for (uint32_t poi : hits) {
        Cell& cell = window->cells[Key(poi, in.band, in.gender)];
        ++cell.events;
        if (window->person_entries >= persons_per_shard_ && !cell.persons.count(in.person)) {
          overflow_.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        if (cell.persons.insert(in.person).second) ++window->person_entries;
      }
    }
  }
  if (!new_windows.empty()) {
    std::lock_guard lock(open_mu_);
    for (int64_t w : new_windows) open_[w] = true;
  }
  if (max_time != INT64_MIN) {
    int64_t cur = max_event_time_.load();
    while (max_time > cur && !max_event_time_.compare_exchange_weak(cur, max_time)) {
    }
    last_event_wall_us_.store(WallMicros());
  }
}

std::vector<EmittedWindow> PresenceAggregator::TakeReady(bool all, int64_t now_us) {
  std::unique_lock emit_lock(emit_mu_);
  const int64_t wm = watermark();
  const bool idle = config_.idle_close.count() > 0 && last_event_wall_us_.load() > 0 &&
                    now_us - last_event_wall_us_.load() >= config_.idle_close.count() * 1000;
  std::vector<int64_t> ready;
  std::vector<bool> forced;
  {
    std::lock_guard lock(open_mu_);
    size_t open = open_.size();
    for (auto it = open_.begin(); it != open_.end();) {
      const int64_t w = it->first;
      const bool due = all || idle || (wm != INT64_MIN && w + window_us_ <= wm);
      const bool over = open > config_.max_open_windows;
      if (!due && !over) break;
      ready.push_back(w);
      forced.push_back(!due);
      it = open_.erase(it);
      --open;
    }
  }
  std::vector<EmittedWindow> out;
  for (size_t k = 0; k < ready.size(); ++k) {
    EmittedWindow ew;
    ew.start_us = ready[k];
    ew.forced = forced[k];
    if (ew.forced) forced_.fetch_add(1);
    std::unordered_map<uint64_t, PresenceRow> merged;
    for (auto& shard : shards_) {
      std::lock_guard lock(shard->mu);
      auto it = shard->windows.find(ready[k]);
      if (it == shard->windows.end()) continue;
      for (auto& [key, cell] : it->second.cells) {
        PresenceRow& r = merged[key];
        r.window_start_us = ready[k];
        r.poi = static_cast<uint32_t>(key >> 16);
        r.band = static_cast<uint8_t>(key >> 8);
        r.gender = static_cast<uint8_t>(key);
        r.events += cell.events;
        r.persons += cell.persons.size();  // a person lives in one shard: sums are exact
      }
      shard->windows.erase(it);
    }
    ew.rows.reserve(merged.size());
    for (auto& [key, row] : merged) ew.rows.push_back(row);
    std::sort(ew.rows.begin(), ew.rows.end());
    int64_t end = ready[k] + window_us_;
    if (end > emitted_until_.load()) emitted_until_.store(end);
    out.push_back(std::move(ew));
  }
  return out;
}

AggregatorStats PresenceAggregator::Stats() const {
  AggregatorStats s;
  {
    std::lock_guard lock(const_cast<std::mutex&>(open_mu_));
    s.open_windows = open_.size();
  }
  s.late_events = late_.load();
  s.persons_overflow = overflow_.load();
  s.forced_windows = forced_.load();
  return s;
}

}  // namespace inlet::process
