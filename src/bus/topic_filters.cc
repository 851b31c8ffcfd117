#include "bus/topic_filters.h"

namespace inlet::bus {

TopicFilters::TopicFilters(std::vector<std::shared_ptr<const FilterPolicy>> policies,
                           size_t ring_size)
    : policies_(std::move(policies)), ring_(ring_size) {}

uint64_t TopicFilters::EvaluateAll(const Message& message) {
  thread_local PolicyInput input;
  input.Reset(message.attributes, message.payload);
  uint64_t mask = 0;
  for (size_t i = 0; i < policies_.size() && i < 64; ++i) {
    if (policies_[i]->Matches(input)) mask |= 1ull << i;
  }
  return mask;
}

bool TopicFilters::Matches(size_t index, const Message& message) {
  if (index >= 64) {  // beyond the mask: evaluated alone
    thread_local PolicyInput input;
    input.Reset(message.attributes, message.payload);
    return policies_[index]->Matches(input);
  }
  Entry& e = ring_[message.seq % ring_.size()];
  {
    std::lock_guard lock(mu_);
    if (e.seq == message.seq) return (e.mask >> index) & 1;
  }
  const uint64_t mask = EvaluateAll(message);
  std::lock_guard lock(mu_);
  e.seq = message.seq;
  e.mask = mask;
  ++evaluations_;
  return (mask >> index) & 1;
}

uint64_t TopicFilters::evaluations() const {
  std::lock_guard lock(const_cast<std::mutex&>(mu_));
  return evaluations_;
}

}  // namespace inlet::bus
