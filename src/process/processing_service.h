// ProcessingService: runs every configured processor: a pool of worker
// threads per processor that fetch batches from the processor's
// subscription, run the stage chain (EventProcessor), write the outputs and
// then ack; an autoscaler thread that resizes each pool on the backlog and
// closes aggregation windows. Metrics go to the registry, decisions to the
// log. Start/Stop from one thread; Stats is thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "common/metrics.h"
#include "common/status.h"
#include "process/process_config.h"
#include "schema/table_schema.h"
#include "storage/object_store.h"

namespace inlet::process {

class EventProcessor;

struct ProcessorStats {
  std::string name;
  uint32_t workers = 0;
  uint64_t backlog = 0;
  uint64_t scale_outs = 0;
  uint64_t scale_ins = 0;
  uint64_t batches = 0;
};

class ProcessingService {
 public:
  // Every pointer must outlive the service. `metrics` may be null. Fails when
  // a subscription, table, topic, POI file or key is missing.
  static Result<std::unique_ptr<ProcessingService>> Create(
      const ProcessConfig& config, const std::map<std::string, schema::TableSchema>& tables,
      bus::Bus* bus, storage::ObjectStore* lake, MetricsRegistry* metrics);
  ~ProcessingService();  // Stop()

  // Starts min_workers per processor and the autoscaler.
  Status Start();
  // Stops the workers after their current batch (unacked messages are
  // redelivered later) and closes the windows that are due. Idempotent.
  void Stop();
  // As Stop, but closes no window: what is not committed is left to whoever
  // reads the source next (a partition whose lease was lost).
  void Abandon();

  std::vector<ProcessorStats> Stats() const;
  EventProcessor* processor(const std::string& name);

  struct Pool;

 private:
  ProcessingService() = default;
  void ControlLoop();
  void Halt(bool emit_windows);

  std::vector<std::unique_ptr<Pool>> pools_;
  MetricsRegistry* metrics_ = nullptr;
  struct Control;
  std::unique_ptr<Control> control_;
};

}  // namespace inlet::process
