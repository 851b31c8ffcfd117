// Delays between delivery attempts of a notification: exponential backoff
// with jitter, bounded by the policy's min and max delay (SNS's delivery
// policy, simplified). Thread-safe (the jitter source is per thread).
#pragma once

#include <cstdint>

#include "notify/notify_config.h"

namespace inlet::notify {

// The wait after failed attempt `attempt` (from 1): the base delay
// min(max_delay, min_delay * 2^(attempt-1)), reduced by a random fraction of
// at most policy.jitter, but never below min_delay.
Millis RetryDelay(const RetryPolicy& policy, uint32_t attempt);

// The base delay, without jitter.
Millis BaseRetryDelay(const RetryPolicy& policy, uint32_t attempt);

}  // namespace inlet::notify
