// EventProcessor: one configured processor's stage chain (validate ->
// flatten -> mask -> aggregate) and its outputs to the lake: curated/events
// (validated, flattened, masked rows), errors/<category>/ (rejected input
// with reason) and curated/poi_presence (closed windows). Shared state (POI
// index, aggregator) lives here; per-thread state in a Worker. Outputs are
// exactly-once: every batch and every window emission is one commit (files,
// window snapshot, then `_state/processor-<name>.json`), commits are
// serialised by one lock, and messages already committed are skipped (see
// docs/processing.md). ProcessBatch is thread-safe given one Worker per
// thread, and workers run their stages in parallel: only the window update
// and the commit hold the lock. EmitReady is thread-safe too.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "common/metrics.h"
#include "common/status.h"
#include "process/presence_aggregator.h"
#include "process/process_config.h"
#include "process/processor_state.h"
#include "schema/table_schema.h"
#include "storage/object_store.h"

namespace inlet::process {

// Tables written by a processor (Parquet columns, also for the catalog).
schema::TableSchema PoiPresenceSchema();
schema::TableSchema RejectedEventsSchema();

struct BatchResult {
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  uint64_t late = 0;
  uint64_t duplicates = 0;  // already committed (redelivered): skipped, to be acked
};

class EventProcessor {
 public:
  class Worker;
  struct WorkerDeleter {
    void operator()(Worker* w) const;
  };
  using WorkerPtr = std::unique_ptr<Worker, WorkerDeleter>;

  // `table`, `lake`, `errors_topic` (null: no notifications) and `metrics`
  // (may be null) must outlive the processor. Loads the POIs and the key,
  // then recovers the committed state from the lake: restores the open
  // windows and rolls back (deletes) the objects of an unfinished commit.
  static Result<std::unique_ptr<EventProcessor>> Create(const ProcessorConfig& config,
                                                        const schema::TableSchema& table,
                                                        storage::ObjectStore* lake,
                                                        bus::Topic* errors_topic,
                                                        MetricsRegistry* metrics);
  ~EventProcessor();

  Result<WorkerPtr> NewWorker();

  // Runs the stages over the messages not yet committed and commits their
  // curated rows, errors and window state (durably) before returning OK; the
  // caller acks every message afterwards. On error nothing is committed (the
  // commit's objects are deleted, the windows restored): nack the batch.
  Result<BatchResult> ProcessBatch(Worker* worker, std::span<const bus::Message* const> messages);

  // Writes every closed window to curated/poi_presence (all open windows
  // when `all`) as one commit. Returns the number of windows closed.
  Result<size_t> EmitReady(bool all);

  const ProcessorConfig& config() const { return config_; }
  const schema::TableSchema& events_schema() const { return *events_schema_; }
  const PresenceAggregator* aggregator() const { return aggregator_.get(); }
  const PoiIndex* poi_index() const { return poi_index_.get(); }
  // Number of the last commit (0: none yet).
  uint64_t committed() const;
  // The highest sequence id whose outputs are committed (0: none): where the
  // reader of a partition resumes (bus::Consumer::StartAfter).
  uint64_t ResumeAfter() const;

 private:
  struct Shared;
  struct PendingFile {
    std::string key;
    std::string staged;  // local file, moved into the lake by the commit
  };
  EventProcessor() = default;
  Status Recover();
  // The stages up to the staged files, without the lock: an event is late
  // when its window starts before `floor` (the emitted floor when the stages
  // began); the windows are updated later, under the lock (Worker::inputs).
  Result<BatchResult> RunStages(Worker* worker, std::span<const bus::Message* const> messages,
                                std::vector<PendingFile>* files, int64_t floor);
  // Under commit_mu_: the messages not yet committed (nor repeated in the batch).
  void SelectFresh(std::span<const bus::Message* const> messages,
                   std::vector<const bus::Message*>* fresh, std::vector<uint64_t>* seqs,
                   uint64_t* duplicates) const;
  // Under commit_mu_: whether staged outputs are stale: some of `seqs` were
  // committed meanwhile, or an emission moved the floor across an event's window.
  bool Stale(const Worker& worker, std::span<const uint64_t> seqs, int64_t floor) const;
  int64_t Floor() const;
  static void DiscardStaged(std::vector<PendingFile>* files);
  Status Commit(std::vector<PendingFile>* files, std::span<const uint64_t> seqs);
  // `in_lake`: also delete what the commit may have written to the lake (not
  // when it was refused before writing anything: another process may own
  // those keys now).
  void Rollback(std::vector<PendingFile>* files, uint64_t commit, bool in_lake = true);
  // Commit, unless config_.may_commit says the partition may have passed on
  // (then nothing is written and *fenced is set).
  Status CommitUnlessFenced(std::vector<PendingFile>* files, std::span<const uint64_t> seqs,
                            bool* fenced);

  ProcessorConfig config_;
  const schema::TableSchema* table_ = nullptr;
  storage::ObjectStore* lake_ = nullptr;
  bus::Topic* errors_topic_ = nullptr;
  std::string key_;
  std::unique_ptr<schema::TableSchema> events_schema_;
  std::unique_ptr<PoiIndex> poi_index_;
  std::unique_ptr<PresenceAggregator> aggregator_;
  std::unique_ptr<Shared> shared_;
  mutable std::mutex commit_mu_;  // one commit at a time, in the order of the lock
  ProcessorState state_;          // last committed
  // The windows of state_ in memory, for Rollback: a snapshot and the
  // journals committed after it.
  std::string committed_snapshot_;
  std::vector<std::string> committed_journals_;
  // Bytes in the lake of state_.snapshot and of state_.deltas: a new
  // snapshot replaces the deltas once they outgrow it.
  uint64_t lake_snapshot_bytes_ = 0;
  uint64_t lake_delta_bytes_ = 0;
  MetricsRegistry* metrics_ = nullptr;
  uint64_t collector_id_ = 0;  // removed from metrics_ on destruction
};

}  // namespace inlet::process
