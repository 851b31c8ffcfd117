// EmbeddedSubscription: one subscription of the embedded bus, a Consumer with
// SQS semantics over a topic's SegmentLog. Tracks an ack floor (every seq
// below it is done) and a window of slots above it; persists floor and done
// ranges to a cursor file so a restart redelivers only unacknowledged
// messages. Receive counts restart from 1 after a restart. Thread-safe.
#pragma once

#include <deque>
#include <filesystem>
#include <mutex>
#include <queue>
#include <vector>

#include "bus/bus.h"
#include "bus/bus_config.h"
#include "bus/segment_log.h"
#include "bus/topic_filters.h"

namespace inlet::bus {

class EmbeddedSubscription final : public Consumer {
 public:
  // `log`, `dead_letter` and `filters` (both may be null) must outlive the
  // subscription; `filter_index` is its policy in `filters`.
  static Result<std::unique_ptr<EmbeddedSubscription>> Open(SubscriptionConfig config,
                                                            SegmentLog* log, Topic* dead_letter,
                                                            std::filesystem::path cursor_file,
                                                            TopicFilters* filters = nullptr,
                                                            size_t filter_index = 0);

  const std::string& name() const override { return config_.name; }
  Result<std::vector<Delivery>> Fetch(const FetchOptions& options) override;
  Status Ack(std::span<const Receipt> receipts) override;
  Status Nack(std::span<const Receipt> receipts, Millis delay) override;
  SubscriptionStats Stats() const override;

  // Every seq below this is done (acknowledged, filtered out or dead-lettered).
  uint64_t AckFloor() const;
  // Writes the cursor file if anything changed since the last call.
  Status PersistCursor();
  // Wakes a long poll (on shutdown).
  void Wake() { log_->WakeAll(); }

 private:
  enum class SlotState : uint8_t { kInFlight, kDone, kDeadLettering };
  struct Slot {
    int64_t arrival_us = 0;
    int64_t visible_at_us = 0;
    uint32_t attempt = 0;
    SlotState state = SlotState::kInFlight;
  };
  // When messages [seq, last] delivered as `attempt` become visible again
  // (unless acknowledged or given another visibility since). A fetch's new
  // messages share one timer: a timer per message held the heap at
  // (rate x visibility timeout) entries, 24 bytes each (945 MB at 125k
  // messages/s with the delivery streams' 315 s).
  struct Timer {
    int64_t at_us;
    uint64_t seq;
    uint64_t last;
    uint32_t attempt;
    bool operator>(const Timer& o) const {
      return at_us != o.at_us ? at_us > o.at_us : seq > o.seq;
    }
  };

  EmbeddedSubscription(SubscriptionConfig config, SegmentLog* log, Topic* dead_letter,
                       std::filesystem::path cursor_file, TopicFilters* filters,
                       size_t filter_index);
  Status LoadCursor();
  Slot* SlotFor(uint64_t seq);
  void AdvanceFloor();
  bool PreDone(uint64_t seq);
  // Collects due redeliveries and new messages; requires mu_.
  Status Collect(const FetchOptions& options, int64_t now_us, Millis visibility,
                 std::vector<Delivery>* out, std::vector<Message>* to_dead_letter);
  void DeadLetter(std::vector<Message> messages);

  const SubscriptionConfig config_;
  SegmentLog* const log_;
  Topic* const dead_letter_;
  const std::filesystem::path cursor_file_;
  TopicFilters* const filters_;
  const size_t filter_index_;

  mutable std::mutex mu_;
  uint64_t floor_ = 1;  // every seq < floor_ is done
  uint64_t next_ = 1;   // next seq to read from the log; window covers [floor_, next_)
  std::deque<Slot> window_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::vector<std::pair<uint64_t, uint64_t>> pre_done_;  // done ranges above the floor at load
  ReadHint hint_;
  bool dirty_ = false;
  uint64_t in_flight_ = 0;
  uint64_t delivered_ = 0, acked_ = 0, dead_lettered_ = 0, stale_receipts_ = 0;
};

}  // namespace inlet::bus
