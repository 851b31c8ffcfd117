#include "notify/retry_policy.h"

#include <algorithm>
#include <random>

namespace inlet::notify {

Millis BaseRetryDelay(const RetryPolicy& policy, uint32_t attempt) {
  int64_t d = policy.min_delay.count();
  int64_t cap = std::max(policy.max_delay.count(), d);
  for (uint32_t i = 1; i < attempt && d < cap; ++i) d = d == 0 ? 1 : d * 2;
  return Millis(std::min(d, cap));
}

Millis RetryDelay(const RetryPolicy& policy, uint32_t attempt) {
  Millis base = BaseRetryDelay(policy, attempt);
  if (policy.jitter <= 0 || base.count() == 0) return base;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  double cut = std::uniform_real_distribution<double>(0, std::min(policy.jitter, 1.0))(rng);
  int64_t d = base.count() - static_cast<int64_t>(cut * static_cast<double>(base.count()));
  return Millis(std::max(d, std::min(policy.min_delay.count(), base.count())));
}

}  // namespace inlet::notify
