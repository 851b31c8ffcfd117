#include "process/presence_aggregator.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <utility>

namespace inlet::process {
namespace {

int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void PutU64(uint64_t v, std::string* out) {  // little-endian; callers reserve
  if constexpr (std::endian::native == std::endian::little) {
    out->append(reinterpret_cast<const char*>(&v), 8);
  } else {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
    out->append(b, 8);
  }
}

// Sorts pairs by their first member: LSD radix sort on 11-bit digits, stable,
// skipping the digits that every key shares (a cell key uses about 40 bits).
template <typename T>
void SortByFirst(std::vector<std::pair<uint64_t, T>>* v) {
  constexpr int kBits = 11;
  constexpr size_t kBuckets = size_t{1} << kBits;
  if (v->size() < 1024) {
    std::stable_sort(v->begin(), v->end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    return;
  }
  uint64_t varying = 0;
  for (const auto& x : *v) varying |= x.first ^ v->front().first;
  std::vector<std::pair<uint64_t, T>> out(v->size());
  std::vector<size_t> start(kBuckets);
  for (int shift = 0; shift < 64; shift += kBits) {
    if (((varying >> shift) & (kBuckets - 1)) == 0) continue;
    std::fill(start.begin(), start.end(), 0);
    for (const auto& x : *v) ++start[(x.first >> shift) & (kBuckets - 1)];
    size_t sum = 0;
    for (size_t& s : start) sum += std::exchange(s, sum);
    for (const auto& x : *v) out[start[(x.first >> shift) & (kBuckets - 1)]++] = x;
    v->swap(out);
  }
}

// Journal records (little-endian u64 words): a block per Add starts with
// kBlock, late count, highest event time; then kWindow, shard, window start
// when a shard's current window changes; kHits | nhits << 8 | band << 40 |
// gender << 48, person, then one word per POI.
constexpr uint64_t kBlock = 1, kWindow = 2, kHits = 3;

// A tracked person of a cell and their events there (snapshots).
struct PersonEvents {
  uint64_t person = 0;
  uint64_t events = 0;
};

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

void PresenceAggregator::Locate(std::span<const PresenceInput> inputs, Located* out) const {
  out->hits.clear();
  std::vector<PoiIndex::LatLon> points(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) points[i] = {inputs[i].lat, inputs[i].lon};
  index_->FindAll(points, &out->hits, &out->offsets);
}

void PresenceAggregator::Add(std::span<const PresenceInput> inputs, std::span<uint8_t> late,
                             const Located* located) {
  std::shared_lock emit_lock(emit_mu_);
  const int64_t floor = emitted_until_.load();
  int64_t max_time = INT64_MIN;
  std::vector<uint32_t> hits;
  // Events grouped by shard so that each shard is locked once per batch.
  std::vector<std::vector<uint32_t>> by_shard(shards_.size());
  std::vector<int64_t> new_windows;
  std::string journal;
  // A block header, a window record per shard (more only when a batch spans
  // windows), and per event with POIs its header, person and POIs.
  journal.reserve(24 + shards_.size() * 24 + inputs.size() * 16 +
                  (located ? located->hits.size() : inputs.size()) * 8);
  PutU64(kBlock, &journal);
  const size_t late_pos = journal.size();
  PutU64(0, &journal);
  PutU64(0, &journal);
  uint64_t late_count = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int64_t w = WindowStart(inputs[i].time_us);
    if (w < floor) {
      late[i] = 1;
      late_.fetch_add(1, std::memory_order_relaxed);
      ++late_count;
      continue;
    }
    late[i] = 0;
    max_time = std::max(max_time, inputs[i].time_us);
    by_shard[inputs[i].person % shards_.size()].push_back(static_cast<uint32_t>(i));
  }
  std::vector<Pair> pairs;  // of the current window's run of events
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
        if (window) Count(window, pairs);
        pairs.clear();
        auto [it, inserted] = shard.windows.try_emplace(w);
        if (inserted) {
          new_windows.push_back(w);
          // The newest window is sized like the last closed one (no rehashes
          // on the way); windows opened behind it, by late or replayed
          // events, grow from empty, so that many open windows do not each
          // hold a live window's memory.
          if (std::next(it) == shard.windows.end())
            it->second.pairs.reserve(std::min<uint64_t>(shard.last_pairs, persons_per_shard_));
        }
        window = &it->second;
        last_window = w;
        PutU64(kWindow, &journal);
        PutU64(s, &journal);
        PutU64(static_cast<uint64_t>(w), &journal);
      }
      std::span<const uint32_t> found;
      if (located) {
        found = std::span<const uint32_t>(located->hits)
                    .subspan(located->offsets[i], located->offsets[i + 1] - located->offsets[i]);
      } else {
        hits.clear();
        index_->Find(in.lat, in.lon, &hits);
        found = hits;
      }
      if (found.empty()) continue;
      PutU64(kHits | static_cast<uint64_t>(found.size()) << 8 |
                 static_cast<uint64_t>(in.band) << 40 | static_cast<uint64_t>(in.gender) << 48,
             &journal);
      PutU64(in.person, &journal);
      for (uint32_t poi : found) {
        PutU64(poi, &journal);
        pairs.push_back({Key(poi, in.band, in.gender), in.person});
      }
    }
    if (window) Count(window, pairs);
    pairs.clear();
  }
  {
    char* p = journal.data() + late_pos;
    for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(late_count >> (8 * i));
    const uint64_t mt = static_cast<uint64_t>(max_time);
    for (int i = 0; i < 8; ++i) p[8 + i] = static_cast<char>(mt >> (8 * i));
    std::lock_guard lock(journal_mu_);
    if (journal_.empty())
      journal_.swap(journal);
    else
      journal_ += journal;
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

void PresenceAggregator::Count(Window* window, std::span<const Pair> pairs) {
  // Each probe is a cache miss in a large window: the slots of the pairs
  // kAhead places ahead are fetched while the current one is counted.
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < std::min(kAhead, pairs.size()); ++i) window->pairs.prefetch(pairs[i]);
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i + kAhead < pairs.size()) window->pairs.prefetch(pairs[i + kAhead]);
    if (window->pairs.size() < persons_per_shard_) {
      ++window->pairs[pairs[i]];
      continue;
    }
    auto it = window->pairs.find(pairs[i]);
    if (it != window->pairs.end()) {
      ++it->second;
    } else {
      ++window->extra_events[pairs[i].cell];
      overflow_.fetch_add(1, std::memory_order_relaxed);
    }
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
    // The shards' cells, sorted by key (poi, band, gender: the rows' order),
    // then summed per key: a person lives in one shard, so sums are exact.
    std::vector<std::pair<uint64_t, Cell>> cells;
    for (auto& shard : shards_) {
      std::lock_guard lock(shard->mu);
      auto it = shard->windows.find(ready[k]);
      if (it == shard->windows.end()) continue;
      const Window& window = it->second;
      cells.reserve(cells.size() + window.pairs.size() + window.extra_events.size());
      for (const auto& [pair, events] : window.pairs)
        cells.push_back({pair.cell, Cell{.events = events, .persons = 1}});
      for (const auto& [cell, events] : window.extra_events)
        cells.push_back({cell, Cell{.events = events, .persons = 0}});
      shard->last_pairs = window.pairs.size();
      shard->windows.erase(it);
    }
    SortByFirst(&cells);
    ew.rows.reserve(cells.size());
    for (size_t c = 0; c < cells.size(); ++c) {
      const auto& [key, cell] = cells[c];
      if (c > 0 && cells[c - 1].first == key) {
        ew.rows.back().events += cell.events;
        ew.rows.back().persons += cell.persons;
        continue;
      }
      PresenceRow r;
      r.window_start_us = ready[k];
      r.poi = static_cast<uint32_t>(key >> 16);
      r.band = static_cast<uint8_t>(key >> 8);
      r.gender = static_cast<uint8_t>(key);
      r.events = cell.events;
      r.persons = cell.persons;
      ew.rows.push_back(r);
    }
    int64_t end = ready[k] + window_us_;
    if (end > emitted_until_.load()) emitted_until_.store(end);
    out.push_back(std::move(ew));
  }
  return out;
}

namespace {

constexpr std::string_view kSnapshotMagic = "INLETPA1";

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool U64(uint64_t* v) {
    if (s_.size() - pos_ < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i)
      *v |= static_cast<uint64_t>(static_cast<unsigned char>(s_[pos_ + i])) << (8 * i);
    pos_ += 8;
    return true;
  }
  bool I64(int64_t* v) {
    uint64_t u;
    if (!U64(&u)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  // A count that cannot exceed what is left (each element is >= 8 bytes).
  bool Count(uint64_t* v) { return U64(v) && *v <= (s_.size() - pos_) / 8 + 1; }
  bool done() const { return pos_ == s_.size(); }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

std::string PresenceAggregator::Snapshot() const {
  std::string out(kSnapshotMagic);
  PutU64(static_cast<uint64_t>(max_event_time_.load()), &out);
  PutU64(static_cast<uint64_t>(emitted_until_.load()), &out);
  PutU64(late_.load(), &out);
  PutU64(overflow_.load(), &out);
  PutU64(forced_.load(), &out);
  {
    std::lock_guard lock(const_cast<std::mutex&>(open_mu_));
    PutU64(open_.size(), &out);
    for (const auto& [w, unused] : open_) PutU64(static_cast<uint64_t>(w), &out);
  }
  PutU64(shards_.size(), &out);
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    PutU64(shard->windows.size(), &out);
    for (const auto& [start, window] : shard->windows) {
      // Each cell with its persons: the pairs sorted by cell give every
      // cell's persons as one run (one sort instead of a map of vectors).
      std::vector<std::pair<uint64_t, PersonEvents>> seen;
      seen.reserve(window.pairs.size());
      for (const auto& [pair, events] : window.pairs)
        seen.push_back({pair.cell, PersonEvents{pair.person, events}});
      SortByFirst(&seen);
      auto has_pairs = [&](uint64_t cell) {
        auto it = std::lower_bound(seen.begin(), seen.end(), cell,
                                   [](const auto& a, uint64_t c) { return a.first < c; });
        return it != seen.end() && it->first == cell;
      };
      uint64_t n_cells = 0;
      for (size_t k = 0; k < seen.size(); ++k)
        n_cells += k == 0 || seen[k].first != seen[k - 1].first;
      for (const auto& [cell, events] : window.extra_events) n_cells += !has_pairs(cell);
      PutU64(static_cast<uint64_t>(start), &out);
      PutU64(window.pairs.size(), &out);
      PutU64(n_cells, &out);
      out.reserve(out.size() + 8 * (seen.size() + 3 * n_cells));
      for (size_t k = 0; k < seen.size();) {
        const uint64_t key = seen[k].first;
        size_t end = k;
        uint64_t events = 0;
        for (; end < seen.size() && seen[end].first == key; ++end)
          events += seen[end].second.events;
        if (auto extra = window.extra_events.find(key); extra != window.extra_events.end())
          events += extra->second;
        PutU64(key, &out);
        PutU64(events, &out);
        PutU64(end - k, &out);
        for (; k < end; ++k) PutU64(seen[k].second.person, &out);
      }
      for (const auto& [cell, events] : window.extra_events) {  // cells without tracked persons
        if (has_pairs(cell)) continue;
        PutU64(cell, &out);
        PutU64(events, &out);
        PutU64(0, &out);
      }
    }
  }
  return out;
}

Status PresenceAggregator::Restore(std::string_view snapshot) {
  const Status corrupt = Status::InvalidArgument("corrupt window snapshot");
  if (snapshot.substr(0, kSnapshotMagic.size()) != kSnapshotMagic) return corrupt;
  Reader r(snapshot.substr(kSnapshotMagic.size()));
  int64_t max_time, emitted;
  uint64_t late, overflow, forced, n_open, n_shards;
  if (!r.I64(&max_time) || !r.I64(&emitted) || !r.U64(&late) || !r.U64(&overflow) ||
      !r.U64(&forced) || !r.Count(&n_open))
    return corrupt;
  std::map<int64_t, bool> open;
  for (uint64_t i = 0; i < n_open; ++i) {
    int64_t w;
    if (!r.I64(&w)) return corrupt;
    open[w] = true;
  }
  if (!r.U64(&n_shards)) return corrupt;
  if (n_shards != shards_.size()) {
    return Status::InvalidArgument("window snapshot has " + std::to_string(n_shards) +
                                   " shards, expected " + std::to_string(shards_.size()));
  }
  std::vector<std::map<int64_t, Window>> shard_windows(n_shards);
  for (auto& windows : shard_windows) {
    uint64_t n_windows;
    if (!r.Count(&n_windows)) return corrupt;
    for (uint64_t i = 0; i < n_windows; ++i) {
      int64_t start;
      uint64_t n_cells, n_pairs;
      Window window;
      if (!r.I64(&start) || !r.U64(&n_pairs) || !r.Count(&n_cells)) return corrupt;
      window.pairs.reserve(std::min<uint64_t>(n_pairs, snapshot.size() / 8));
      for (uint64_t c = 0; c < n_cells; ++c) {
        uint64_t key, events, n_persons;
        if (!r.U64(&key) || !r.U64(&events) || !r.Count(&n_persons)) return corrupt;
        // The cell's events go on its first person (a cell's events are the
        // sum over its pairs), or apart when it has none.
        uint64_t first = 0;
        for (uint64_t k = 0; k < n_persons; ++k) {
          uint64_t p;
          if (!r.U64(&p)) return corrupt;
          window.pairs.try_emplace(Pair{key, p}, 0);
          if (k == 0) first = p;
        }
        if (events == 0) continue;
        if (n_persons > 0)
          window.pairs[Pair{key, first}] += events;
        else
          window.extra_events[key] += events;
      }
      windows.emplace(start, std::move(window));
    }
  }
  if (!r.done()) return corrupt;
  std::unique_lock emit_lock(emit_mu_);
  for (size_t i = 0; i < shards_.size(); ++i) {
    std::lock_guard lock(shards_[i]->mu);
    shards_[i]->windows = std::move(shard_windows[i]);
  }
  {
    std::lock_guard lock(open_mu_);
    open_ = std::move(open);
    // idle_close counts from the restore for restored windows.
    last_event_wall_us_.store(open_.empty() ? 0 : WallMicros());
  }
  {
    std::lock_guard lock(journal_mu_);
    journal_.clear();
  }
  max_event_time_.store(max_time);
  emitted_until_.store(emitted);
  late_.store(late);
  overflow_.store(overflow);
  forced_.store(forced);
  return Status::Ok();
}

std::string PresenceAggregator::TakeJournal() {
  std::lock_guard lock(journal_mu_);
  std::string out;
  out.swap(journal_);
  return out;
}

Status PresenceAggregator::ApplyJournal(std::string_view journal) {
  const Status corrupt = Status::InvalidArgument("corrupt window journal");
  if (journal.size() % 8 != 0) return corrupt;
  Reader r(journal);
  std::unique_lock emit_lock(emit_mu_);
  std::vector<Window*> current(shards_.size(), nullptr);
  std::vector<Pair> pairs;
  int64_t max_time = INT64_MIN;
  while (!r.done()) {
    uint64_t tag;
    if (!r.U64(&tag)) return corrupt;
    switch (tag & 0xFF) {
      case kBlock: {
        uint64_t late;
        int64_t t;
        if (!r.U64(&late) || !r.I64(&t)) return corrupt;
        late_.fetch_add(late);
        max_time = std::max(max_time, t);
        break;
      }
      case kWindow: {
        uint64_t s;
        int64_t w;
        if (!r.U64(&s) || !r.I64(&w) || s >= shards_.size()) return corrupt;
        Shard& shard = *shards_[s];
        std::lock_guard lock(shard.mu);
        auto [it, inserted] = shard.windows.try_emplace(w);
        current[s] = &it->second;
        if (inserted) {
          std::lock_guard open_lock(open_mu_);
          open_[w] = true;
        }
        break;
      }
      case kHits: {
        const uint64_t n = (tag >> 8) & 0xFFFFFFFF;
        uint64_t person;
        if (!r.U64(&person)) return corrupt;
        Window* window = current[person % shards_.size()];
        if (!window) return corrupt;
        const auto band = static_cast<uint8_t>(tag >> 40), gender = static_cast<uint8_t>(tag >> 48);
        pairs.clear();
        for (uint64_t k = 0; k < n; ++k) {
          uint64_t poi;
          if (!r.U64(&poi) || poi >= index_->pois().size()) return corrupt;
          pairs.push_back({Key(static_cast<uint32_t>(poi), band, gender), person});
        }
        std::lock_guard lock(shards_[person % shards_.size()]->mu);
        Count(window, pairs);
        break;
      }
      default:
        return corrupt;
    }
  }
  if (max_time != INT64_MIN) {
    int64_t cur = max_event_time_.load();
    while (max_time > cur && !max_event_time_.compare_exchange_weak(cur, max_time)) {
    }
    last_event_wall_us_.store(WallMicros());
  }
  return Status::Ok();
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
