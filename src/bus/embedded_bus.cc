#include "bus/embedded_bus.h"

#include <spdlog/spdlog.h>

#include "bus/embedded_subscription.h"
#include "common/clock.h"
#include "common/thread_name.h"

namespace inlet::bus {

EmbeddedTopic::EmbeddedTopic(TopicConfig config, std::unique_ptr<SegmentLog> log)
    : config_(std::move(config)), log_(std::move(log)) {}

void EmbeddedTopic::PublishAsync(std::vector<OutgoingEvent> events, PublishDone done) {
  log_->AppendAsync(std::move(events), NowMicros(), std::move(done));
}

EmbeddedBus::EmbeddedBus(const EmbeddedBusConfig& config)
    : config_(config), budget_(config.disk_budget_bytes) {}

Result<std::unique_ptr<EmbeddedBus>> EmbeddedBus::Open(const EmbeddedBusConfig& config) {
  std::unique_ptr<EmbeddedBus> bus(new EmbeddedBus(config));
  for (const TopicConfig& t : config.topics) {
    SegmentLogOptions opts;
    opts.segment_bytes = t.segment_bytes;
    opts.max_pending_bytes = config.max_pending_bytes;
    opts.fsync = config.fsync;
    opts.budget = &bus->budget_;
    auto log = SegmentLog::Open(config.log_dir / "topics" / t.name, opts);
    if (!log.ok()) return log.status();
    const LogStats st = log.value()->Stats();
    if (st.truncated_bytes_on_recovery > 0) {
      spdlog::warn("topic {}: recovery truncated {} bytes of torn tail (never acknowledged)",
                   t.name, st.truncated_bytes_on_recovery);
    }
    bus->topics_.emplace(t.name, std::make_unique<EmbeddedTopic>(t, std::move(log).value()));
  }
  // Each topic evaluates the policies of all its subscriptions together.
  std::map<std::string, std::vector<std::shared_ptr<const FilterPolicy>>> policies;
  std::map<std::string, size_t> policy_index;
  for (const SubscriptionConfig& s : config.subscriptions) {
    if (!s.filter_policy) continue;
    policy_index[s.name] = policies[s.topic].size();
    policies[s.topic].push_back(s.filter_policy);
  }
  for (auto& [topic, list] : policies) {
    if (EmbeddedTopic* t = bus->FindEmbeddedTopic(topic))
      t->set_filters(std::make_unique<TopicFilters>(list));
  }
  for (const SubscriptionConfig& s : config.subscriptions) {
    EmbeddedTopic* topic = bus->FindEmbeddedTopic(s.topic);
    if (topic == nullptr)
      return Status::NotFound("subscription " + s.name + ": unknown topic " + s.topic);
    Topic* dlq = nullptr;
    if (!s.dead_letter_topic.empty()) {
      dlq = bus->FindTopic(s.dead_letter_topic);
      if (dlq == nullptr) {
        return Status::NotFound("subscription " + s.name + ": unknown dead-letter topic " +
                                s.dead_letter_topic);
      }
    }
    const bool filtered = policy_index.count(s.name) > 0;
    auto sub = EmbeddedSubscription::Open(
        s, &topic->log(), dlq, config.log_dir / "cursors" / (s.name + ".cursor"),
        filtered ? topic->filters() : nullptr, filtered ? policy_index[s.name] : 0);
    if (!sub.ok()) return sub.status();
    bus->subscriptions_.emplace(s.name, std::move(sub).value());
  }
  std::error_code ec;
  std::filesystem::create_directories(config.log_dir / "cursors", ec);
  if (ec) return Status::IoError("cannot create " + (config.log_dir / "cursors").string());
  bus->maintenance_ = std::thread([b = bus.get()] {
    SetThreadName("bus-maintain");
    b->MaintenanceLoop();
  });
  return bus;
}

EmbeddedBus::~EmbeddedBus() { Close(); }

void EmbeddedBus::Close() {
  {
    std::lock_guard lock(close_mu_);
    if (closed_) return;
    closed_ = true;
  }
  close_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  for (auto& [name, t] : topics_) t->log().WakeAll();
  RunMaintenance(false);
}

Topic* EmbeddedBus::FindTopic(std::string_view name) { return FindEmbeddedTopic(name); }

EmbeddedTopic* EmbeddedBus::FindEmbeddedTopic(std::string_view name) {
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : it->second.get();
}

Consumer* EmbeddedBus::FindSubscription(std::string_view name) {
  auto it = subscriptions_.find(name);
  return it == subscriptions_.end() ? nullptr : it->second.get();
}

std::vector<std::string> EmbeddedBus::TopicNames() const {
  std::vector<std::string> out;
  for (auto& [name, t] : topics_) out.push_back(name);
  return out;
}

std::vector<std::string> EmbeddedBus::SubscriptionNames() const {
  std::vector<std::string> out;
  for (auto& [name, s] : subscriptions_) out.push_back(name);
  return out;
}

void EmbeddedBus::RunMaintenance(bool retention) {
  for (auto& [name, sub] : subscriptions_) {
    Status st = sub->PersistCursor();
    if (!st.ok()) spdlog::error("subscription {}: cannot persist cursor: {}", name, st.ToString());
  }
  if (!retention) return;
  const auto now = std::chrono::system_clock::now();
  for (auto& [name, topic] : topics_) {
    uint64_t floor = topic->log().last_durable_seq() + 1;
    for (const SubscriptionConfig& s : config_.subscriptions) {
      if (s.topic != name) continue;
      auto it = subscriptions_.find(s.name);
      floor = std::min(floor, it->second->AckFloor());
    }
    uint64_t freed = topic->log().DeleteSegments(floor, now - topic->config().retention);
    if (freed > 0)
      spdlog::info("topic {}: retention deleted {} bytes of acknowledged segments", name, freed);
  }
}

void EmbeddedBus::MaintenanceLoop() {
  int tick = 0;
  std::unique_lock lock(close_mu_);
  while (!closed_) {
    close_cv_.wait_for(lock, std::chrono::milliseconds(100));
    if (closed_) break;
    lock.unlock();
    RunMaintenance(++tick % 10 == 0);
    lock.lock();
  }
}

}  // namespace inlet::bus
