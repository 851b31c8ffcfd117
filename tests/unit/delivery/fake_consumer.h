// An in-memory bus::Consumer for delivery tests: messages get seq ids in
// order, Fetch hands out visible ones in seq order, Ack removes them, and
// Restart makes every unacknowledged message visible again (what the embedded
// bus does after a restart). Not thread-safe beyond a mutex around its state.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "bus/bus.h"

namespace inlet::delivery::testing {

class FakeConsumer : public bus::Consumer {
 public:
  const std::string& name() const override { return name_; }

  uint64_t Publish(std::string payload, int64_t arrival_us) {
    std::lock_guard<std::mutex> lock(mu_);
    bus::Message m;
    m.seq = ++last_seq_;
    m.arrival_us = arrival_us;
    m.payload = std::move(payload);
    messages_[m.seq] = Entry{std::move(m), false, 0};
    return last_seq_;
  }
  // A seq the subscription's filter policy dropped: never delivered.
  void SkipSeq() {
    std::lock_guard<std::mutex> lock(mu_);
    ++last_seq_;
  }

  Result<std::vector<bus::Delivery>> Fetch(const bus::FetchOptions& options) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<bus::Delivery> out;
    for (auto& [seq, e] : messages_) {
      if (out.size() >= options.max_messages) break;
      if (e.in_flight) continue;
      e.in_flight = true;
      ++e.attempt;
      out.push_back(bus::Delivery{e.message, bus::Receipt{seq, e.attempt}});
    }
    return out;
  }
  Status Ack(std::span<const bus::Receipt> receipts) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const bus::Receipt& r : receipts) {
      auto it = messages_.find(r.seq);
      if (it != messages_.end() && it->second.attempt == r.attempt) {
        messages_.erase(it);
        acked_.insert(r.seq);
      } else {
        ++stale_acks_;
      }
    }
    return Status::Ok();
  }
  Status Nack(std::span<const bus::Receipt> receipts, bus::Millis) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const bus::Receipt& r : receipts) {
      auto it = messages_.find(r.seq);
      if (it != messages_.end()) it->second.in_flight = false;
    }
    return Status::Ok();
  }
  // Records the position a partition owner resumes from.
  Status StartAfter(uint64_t seq) override {
    std::lock_guard<std::mutex> lock(mu_);
    started_after_ = seq;
    return Status::Ok();
  }
  uint64_t started_after() const {
    std::lock_guard<std::mutex> lock(mu_);
    return started_after_;
  }
  bus::SubscriptionStats Stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    bus::SubscriptionStats s;
    s.backlog = messages_.size();
    return s;
  }

  // Every unacknowledged message becomes visible again.
  void Restart() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [seq, e] : messages_) e.in_flight = false;
  }
  size_t unacked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_.size();
  }
  size_t acked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_.size();
  }
  size_t stale_acks() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stale_acks_;
  }

 private:
  struct Entry {
    bus::Message message;
    bool in_flight = false;
    uint32_t attempt = 0;
  };
  std::string name_ = "fake";
  mutable std::mutex mu_;
  uint64_t last_seq_ = 0;
  std::map<uint64_t, Entry> messages_;
  std::set<uint64_t> acked_;
  size_t stale_acks_ = 0;
  uint64_t started_after_ = UINT64_MAX;
};

}  // namespace inlet::delivery::testing
