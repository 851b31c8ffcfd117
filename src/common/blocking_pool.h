// BlockingPool: a fixed set of threads for work that may block (long polls,
// disk reads), so that it never blocks the HTTP I/O threads. The queue is
// bounded: Submit refuses work when it is full. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace inlet {

class BlockingPool {
 public:
  BlockingPool(size_t threads, size_t max_queued);
  ~BlockingPool();  // runs what is queued, then joins

  // False when the queue is full (the caller answers 503).
  bool Submit(std::function<void()> task);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  size_t max_queued_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace inlet
