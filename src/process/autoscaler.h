// Autoscaler: target tracking on backlog per worker, as ECS does for "SQS
// backlog per task": desired = ceil(backlog / target), clamped to
// [min_workers, max_workers]; scale-out waits scale_out_cooldown after the
// last scale-out; scale-in waits scale_in_cooldown after any scaling. Pure
// decision logic (time is passed in); thread-compatible.
#pragma once

#include <cstdint>
#include <string>

#include "process/process_config.h"

namespace inlet::process {

struct ScalingDecision {
  uint32_t desired = 0;  // workers to run (equals current when nothing changes)
  int direction = 0;     // +1 out, -1 in, 0 none
  std::string reason;    // for the log
};

class Autoscaler {
 public:
  explicit Autoscaler(const AutoscaleConfig& config) : config_(config) {}
  ScalingDecision Evaluate(int64_t now_ms, uint64_t backlog, uint32_t current);

 private:
  AutoscaleConfig config_;
  int64_t last_out_ms_ = INT64_MIN / 2;
  int64_t last_scale_ms_ = INT64_MIN / 2;
};

}  // namespace inlet::process
