// EmbeddedBus: the single-process bus. Each topic is a SegmentLog; each
// subscription keeps an ack floor and a window of in-flight messages with SQS
// semantics, persisted as a cursor file. A maintenance thread persists
// cursors and applies retention. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <thread>

#include "bus/bus.h"
#include "bus/bus_config.h"
#include "bus/segment_log.h"
#include "bus/topic_filters.h"

namespace inlet::bus {

class EmbeddedTopic;
class EmbeddedSubscription;

class EmbeddedBus final : public Bus {
 public:
  // Opens (recovering) every topic log and subscription cursor.
  static Result<std::unique_ptr<EmbeddedBus>> Open(const EmbeddedBusConfig& config);
  ~EmbeddedBus() override;

  Topic* FindTopic(std::string_view name) override;
  Consumer* FindSubscription(std::string_view name) override;
  std::vector<std::string> TopicNames() const override;
  std::vector<std::string> SubscriptionNames() const override;
  void Close() override;

  const DiskBudget& budget() const { return budget_; }
  EmbeddedTopic* FindEmbeddedTopic(std::string_view name);
  // Persists dirty cursors and applies retention now (the maintenance thread
  // does it every 100 ms and every second).
  void RunMaintenance(bool retention);

 private:
  explicit EmbeddedBus(const EmbeddedBusConfig& config);
  void MaintenanceLoop();

  EmbeddedBusConfig config_;
  DiskBudget budget_;
  std::map<std::string, std::unique_ptr<EmbeddedTopic>, std::less<>> topics_;
  std::map<std::string, std::unique_ptr<EmbeddedSubscription>, std::less<>> subscriptions_;
  std::mutex close_mu_;
  std::condition_variable close_cv_;
  bool closed_ = false;
  std::thread maintenance_;
};

class EmbeddedTopic final : public Topic {
 public:
  EmbeddedTopic(TopicConfig config, std::unique_ptr<SegmentLog> log);
  const std::string& name() const override { return config_.name; }
  void PublishAsync(std::vector<OutgoingEvent> events, PublishDone done) override;
  uint64_t StoredBytes() const override { return log_->Stats().bytes; }
  uint64_t LastSeq() const override { return log_->last_durable_seq(); }
  SegmentLog& log() { return *log_; }
  // The filter policies of this topic's subscriptions (null when none).
  TopicFilters* filters() { return filters_.get(); }
  void set_filters(std::unique_ptr<TopicFilters> f) { filters_ = std::move(f); }
  const TopicConfig& config() const { return config_; }

 private:
  TopicConfig config_;
  std::unique_ptr<SegmentLog> log_;
  std::unique_ptr<TopicFilters> filters_;
};

}  // namespace inlet::bus
