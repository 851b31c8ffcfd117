// TopicFilters: the compiled filter policies of one topic's subscriptions,
// evaluated together. The first subscription that reads a message parses it
// once (PolicyInput) and evaluates every policy of the topic; the results are
// kept in a ring by sequence id, so the other subscriptions reading the same
// message look them up instead of parsing again. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "bus/filter_policy.h"
#include "bus/message.h"

namespace inlet::bus {

class TopicFilters {
 public:
  // Index i of `policies` is the id a subscription passes to Matches.
  explicit TopicFilters(std::vector<std::shared_ptr<const FilterPolicy>> policies,
                        size_t ring_size = 1 << 16);

  // Whether the message passes policy `index`.
  bool Matches(size_t index, const Message& message);
  size_t size() const { return policies_.size(); }
  uint64_t evaluations() const;  // events parsed and evaluated against all policies

 private:
  struct Entry {
    uint64_t seq = 0;  // 0: empty
    uint64_t mask = 0;
  };
  uint64_t EvaluateAll(const Message& message);

  std::vector<std::shared_ptr<const FilterPolicy>> policies_;
  std::mutex mu_;
  std::vector<Entry> ring_;
  uint64_t evaluations_ = 0;
};

}  // namespace inlet::bus
