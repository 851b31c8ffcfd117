// RateLimiter: at most `max_events` events in any window of `interval`
// (a sliding window over the times of the last events). Times are passed in
// by the caller, so tests need no clock. Not thread-safe (one worker owns it).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>

namespace inlet::notify {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // max_events 0: unlimited.
  RateLimiter(uint32_t max_events, std::chrono::milliseconds interval)
      : max_(max_events), interval_(interval) {}

  // When the next event may happen (`now` if it may happen now).
  Clock::time_point NextAllowed(Clock::time_point now);
  // Records an event at `now`.
  void Record(Clock::time_point now);

 private:
  void Expire(Clock::time_point now);
  uint32_t max_;
  std::chrono::milliseconds interval_;
  std::deque<Clock::time_point> times_;
};

}  // namespace inlet::notify
