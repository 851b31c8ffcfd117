// EventProcessor: one configured processor's stage chain (validate ->
// flatten -> mask -> aggregate) and its outputs to the lake: curated/events
// (validated, flattened, masked rows), errors/<category>/ (rejected input
// with reason) and curated/poi_presence (closed windows). Shared state (POI
// index, aggregator) lives here; per-thread state in a Worker. ProcessBatch
// is thread-safe given one Worker per thread; EmitReady serialises itself.
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
};

class EventProcessor {
 public:
  class Worker;
  struct WorkerDeleter {
    void operator()(Worker* w) const;
  };
  using WorkerPtr = std::unique_ptr<Worker, WorkerDeleter>;

  // `table`, `lake`, `errors_topic` (null: no notifications) and `metrics`
  // (may be null) must outlive the processor. Loads the POIs and the key.
  static Result<std::unique_ptr<EventProcessor>> Create(const ProcessorConfig& config,
                                                        const schema::TableSchema& table,
                                                        storage::ObjectStore* lake,
                                                        bus::Topic* errors_topic,
                                                        MetricsRegistry* metrics);
  ~EventProcessor();

  Result<WorkerPtr> NewWorker();

  // Runs the stages over `messages` and writes their curated rows and errors
  // (durably) before returning OK; the caller acks afterwards.
  Result<BatchResult> ProcessBatch(Worker* worker, std::span<const bus::Message* const> messages);

  // Writes every closed window to curated/poi_presence (all open windows
  // when `all`). Returns the number of windows written.
  Result<size_t> EmitReady(bool all);

  const ProcessorConfig& config() const { return config_; }
  const schema::TableSchema& events_schema() const { return *events_schema_; }
  const PresenceAggregator* aggregator() const { return aggregator_.get(); }
  const PoiIndex* poi_index() const { return poi_index_.get(); }

 private:
  struct Shared;
  EventProcessor() = default;

  ProcessorConfig config_;
  const schema::TableSchema* table_ = nullptr;
  storage::ObjectStore* lake_ = nullptr;
  bus::Topic* errors_topic_ = nullptr;
  std::string key_;
  std::unique_ptr<schema::TableSchema> events_schema_;
  std::unique_ptr<PoiIndex> poi_index_;
  std::unique_ptr<PresenceAggregator> aggregator_;
  std::unique_ptr<Shared> shared_;
  std::mutex emit_mu_;
};

}  // namespace inlet::process
