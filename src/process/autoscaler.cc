#include "process/autoscaler.h"

#include <algorithm>

namespace inlet::process {

ScalingDecision Autoscaler::Evaluate(int64_t now_ms, uint64_t backlog, uint32_t current) {
  const uint64_t target = config_.target_backlog_per_worker;
  uint64_t want = (backlog + target - 1) / target;
  const uint32_t desired =
      static_cast<uint32_t>(std::clamp<uint64_t>(want, config_.min_workers, config_.max_workers));
  ScalingDecision d{current, 0, ""};
  const std::string why = "backlog " + std::to_string(backlog) + ", target " +
                          std::to_string(target) + " per worker, " + std::to_string(current) +
                          " running";
  if (current < config_.min_workers || desired > current) {
    if (current >= config_.min_workers &&
        now_ms - last_out_ms_ < config_.scale_out_cooldown.count()) {
      d.reason = why + ": scale-out waits for its cooldown";
      return d;
    }
    d.desired = std::max(desired, config_.min_workers);
    d.direction = +1;
    d.reason = why + ": scale out to " + std::to_string(d.desired);
    last_out_ms_ = last_scale_ms_ = now_ms;
  } else if (desired < current) {
    if (now_ms - last_scale_ms_ < config_.scale_in_cooldown.count()) {
      d.reason = why + ": scale-in waits for its cooldown";
      return d;
    }
    d.desired = desired;
    d.direction = -1;
    d.reason = why + ": scale in to " + std::to_string(d.desired);
    last_scale_ms_ = now_ms;
  }
  return d;
}

}  // namespace inlet::process
