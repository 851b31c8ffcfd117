// DeliveryStream: consumes one bus subscription and writes the topic's raw
// events to the lake as partitioned Parquet files (the Firehose of inlet):
// buffering hints, prefix expressions, event-time or arrival-time partitions,
// conversion failures to the error prefix, and exactly-once files through a
// durable per-stream state (docs/delivery.md). Owns its buffers and DuckDB
// writer; borrows the consumer and the store. PollOnce/Flush are called from
// one thread (Start runs them on a thread of its own); Metrics is thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "bus/bus.h"
#include "common/status.h"
#include "delivery/delivery_metrics.h"
#include "delivery/delivery_stream_config.h"
#include "delivery/stream_state.h"
#include "storage/object_store.h"

namespace inlet::delivery {

struct DeliveryStreamOptions {
  // Microseconds since the epoch; tests inject a fake clock.
  std::function<int64_t()> clock_us;
  // Where Parquet files are written before the store takes them. Default: the
  // store's LocalPath("_staging/<stream>") (same filesystem, so a rename), or
  // the system temporary directory for remote stores.
  std::filesystem::path staging_dir;
  int duckdb_threads = 1;
  bus::Millis fetch_wait{500};      // long-poll wait of one fetch
  bus::Millis retry_backoff{1000};  // after a failed fetch or flush (background thread)
  // When set, asked right before each commit point: false (the partition's
  // lease may have passed to another process) fails the flush instead.
  std::function<bool()> may_commit;
};

class DeliveryStream {
 public:
  // Validates the config, reads the stream state from the store. `consumer`
  // and `store` must outlive the stream.
  static Result<std::unique_ptr<DeliveryStream>> Create(DeliveryStreamConfig config,
                                                        bus::Consumer* consumer,
                                                        storage::ObjectStore* store,
                                                        DeliveryStreamOptions options = {});
  ~DeliveryStream();  // Stop()

  // Runs PollOnce in a loop on a background thread until Stop.
  void Start();
  // Stops the thread, flushes the buffered range (unless a replay is still
  // incomplete: then the restart finishes it), and returns the flush status.
  Status Stop();
  // Stops the thread without writing anything more: what is buffered is left
  // to whoever reads the source next (a partition whose lease was lost).
  void Abandon();

  // One step: handles events fetched earlier, fetches more (waiting up to
  // fetch_wait), flushes what the buffering hints say is due. An error leaves
  // everything buffered for the next call.
  Status PollOnce();
  // Flushes the buffered range now ("shutdown" reason); no-op when empty or
  // while re-assembling a range after a restart.
  Status Flush();

  DeliveryMetrics Metrics() const;
  const DeliveryStreamConfig& config() const;
  StreamState state() const;

  struct Impl;

 private:
  explicit DeliveryStream(std::unique_ptr<Impl> impl);
  void StopThread();
  std::unique_ptr<Impl> impl_;
};

}  // namespace inlet::delivery
