// SegmentLog: the durable, segmented, append-only log of one topic of the
// embedded bus (format in bus/log_format.h and docs/log-format.md).
// Appends are group-committed by one writer thread: every batch waiting when
// a write starts shares one write() and one fdatasync(), and its callback runs
// only after that fsync. Reads return only durable records and verify each
// record's CRC. Thread-safe: any number of readers and appenders.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "bus/bus.h"
#include "bus/message.h"
#include "common/metrics.h"
#include "common/status.h"

namespace inlet::bus {

// Bytes used by all logs of a bus, checked against an optional budget.
// Thread-safe.
class DiskBudget {
 public:
  explicit DiskBudget(uint64_t limit_bytes) : limit_(limit_bytes) {}
  void Add(int64_t delta) { used_.fetch_add(delta, std::memory_order_relaxed); }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }
  bool Exceeded() const { return limit_ != 0 && used() >= limit_; }

 private:
  std::atomic<uint64_t> used_{0};
  const uint64_t limit_;  // 0: no budget
};

struct SegmentLogOptions {
  uint64_t segment_bytes = 128ull << 20;      // roll to a new segment past this size
  uint64_t max_pending_bytes = 256ull << 20;  // appends queued before the writer takes them
  bool fsync = true;                          // false only for benchmarks of the upper layers
  DiskBudget* budget = nullptr;               // shared by the topics of a bus; may be null
};

// Where a sequential reader left off, to continue without an index lookup.
struct ReadHint {
  uint64_t seq = 0;  // next seq expected at `offset`
  uint64_t segment_base = 0;
  uint64_t offset = 0;
};

struct LogStats {
  uint64_t bytes = 0;
  uint64_t segments = 0;
  uint64_t appended_batches = 0;
  uint64_t fsyncs = 0;
  uint64_t truncated_bytes_on_recovery = 0;
  double last_fsync_seconds = 0;
};

class SegmentLog {
 public:
  // Opens or creates the log in `dir`, recovering from a crash: the last
  // segment is scanned and truncated at the first torn or corrupt record.
  static Result<std::unique_ptr<SegmentLog>> Open(std::filesystem::path dir,
                                                  SegmentLogOptions options);
  ~SegmentLog();  // completes queued appends with kUnavailable, stops the writer

  SegmentLog(const SegmentLog&) = delete;
  SegmentLog& operator=(const SegmentLog&) = delete;

  // Queues a batch; `done` runs on the writer thread once it is durable.
  void AppendAsync(std::vector<OutgoingEvent> events, int64_t arrival_us, Topic::PublishDone done);

  // Appends up to max_records durable records with seq >= from to *out
  // (at least one record if any exists, even if larger than max_bytes).
  // `hint` may be null; when given it is used and updated.
  Status Read(uint64_t from, size_t max_records, size_t max_bytes, std::vector<Message>* out,
              ReadHint* hint) const;

  uint64_t first_seq() const;  // oldest retained seq (next seq when empty)
  uint64_t last_durable_seq() const { return durable_seq_.load(std::memory_order_acquire); }

  // Blocks until last_durable_seq() >= seq, the deadline, or Close().
  bool WaitFor(uint64_t seq, std::chrono::steady_clock::time_point deadline) const;
  // Wakes every WaitFor, now and from then on (used on shutdown).
  void WakeAll();
  bool Woken() const {
    std::lock_guard lock(wait_mu_);
    return woken_;
  }

  // Deletes sealed segments whose records all have seq < `acked_below` and
  // that were last written before `written_before`. Returns bytes freed.
  uint64_t DeleteSegments(uint64_t acked_below,
                          std::chrono::system_clock::time_point written_before);

  LogStats Stats() const;
  // Observes the duration of every write+fsync (seconds); may be null.
  void set_fsync_histogram(Histogram* h) { fsync_histogram_.store(h); }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  struct Segment;
  struct Pending {
    std::vector<OutgoingEvent> events;
    int64_t arrival_us;
    Topic::PublishDone done;
    size_t bytes;
  };

  SegmentLog(std::filesystem::path dir, SegmentLogOptions options);
  Status Recover();
  Status OpenNewSegment(uint64_t base_seq);
  Status SealActive();
  void WriterLoop();
  void CommitBatch(std::deque<Pending>& batch);
  std::shared_ptr<Segment> FindSegment(uint64_t seq) const;

  const std::filesystem::path dir_;
  const SegmentLogOptions options_;

  mutable std::shared_mutex segments_mu_;  // guards segments_ and each segment's index/size
  std::vector<std::shared_ptr<Segment>> segments_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;
  size_t queue_bytes_ = 0;
  bool closing_ = false;

  std::atomic<uint64_t> durable_seq_{0};
  uint64_t next_seq_ = 1;  // writer thread only (after recovery)
  std::string write_buf_;  // writer thread only

  mutable std::mutex wait_mu_;
  mutable std::condition_variable wait_cv_;
  bool woken_ = false;

  std::atomic<uint64_t> appended_batches_{0};
  // Bytes per record of the last appended batch: sizes reads to what a caller asks for.
  std::atomic<uint64_t> record_bytes_{512};
  std::atomic<uint64_t> fsyncs_{0};
  std::atomic<uint64_t> last_fsync_ns_{0};
  std::atomic<Histogram*> fsync_histogram_{nullptr};
  uint64_t truncated_on_recovery_ = 0;

  std::thread writer_;
};

}  // namespace inlet::bus
