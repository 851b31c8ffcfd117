#include "notify/rate_limiter.h"

namespace inlet::notify {

void RateLimiter::Expire(Clock::time_point now) {
  while (!times_.empty() && times_.front() + interval_ <= now) times_.pop_front();
}

RateLimiter::Clock::time_point RateLimiter::NextAllowed(Clock::time_point now) {
  if (max_ == 0) return now;
  Expire(now);
  if (times_.size() < max_) return now;
  return times_[times_.size() - max_] + interval_;
}

void RateLimiter::Record(Clock::time_point now) {
  if (max_ == 0) return;
  Expire(now);
  times_.push_back(now);
}

}  // namespace inlet::notify
