#include "bus/jetstream_bus.h"

#include <spdlog/spdlog.h>

#include <random>
#include <set>

#include "bus/jetstream_internal.h"
#include "common/thread_name.h"

namespace inlet::bus {

using js::JetStreamConsumer;
using js::JetStreamTopic;
using js::JsContext;

namespace {

void OnDisconnected(natsConnection*, void* closure) {
  if (static_cast<JsContext*>(closure)->closing.load()) return;
  spdlog::warn("JetStream: disconnected from the NATS server; reconnecting");
}
void OnReconnected(natsConnection* nc, void*) {
  char url[256] = {0};
  natsConnection_GetConnectedUrl(nc, url, sizeof(url));
  spdlog::info("JetStream: reconnected to {}", url);
}
void OnClosed(natsConnection*, void* closure) {
  auto* ctx = static_cast<JsContext*>(closure);
  std::lock_guard lock(ctx->closed_mu);
  ctx->closed = true;
  ctx->closed_cv.notify_all();
}
void OnAsyncError(natsConnection*, natsSubscription*, natsStatus err, void*) {
  spdlog::error("JetStream: NATS connection error: {}", natsStatus_GetText(err));
}

// Destroys what a failed Open created, in reverse order.
void DestroyConnection(JsContext* ctx) {
  if (ctx->js != nullptr) jsCtx_Destroy(ctx->js);
  ctx->js = nullptr;
  if (ctx->nc != nullptr) {
    ctx->closing.store(true);
    natsConnection_Close(ctx->nc);
    // Connection callbacks run on the library's thread and get `ctx`.
    std::unique_lock lock(ctx->closed_mu);
    ctx->closed_cv.wait_for(lock, std::chrono::seconds(5), [ctx] { return ctx->closed; });
    lock.unlock();
    natsConnection_Destroy(ctx->nc);
  }
  ctx->nc = nullptr;
}

Status Connect(JsContext* ctx) {
  const JetStreamConfig& c = ctx->config;
  if (c.servers.empty()) return Status::InvalidArgument("JetStream bus: no servers configured");
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  std::vector<const char*> urls;
  for (const auto& u : c.servers) urls.push_back(u.c_str());
  if (s == NATS_OK) s = natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts, "inlet");
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, c.api_timeout.count());
  // Never give up on the cluster: a bus outlives server restarts.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, 64 << 20);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, OnDisconnected, ctx);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, OnReconnected, nullptr);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts, OnAsyncError, nullptr);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, OnClosed, ctx);
  if (s == NATS_OK && !c.credentials_file.empty())
    s = natsOptions_SetUserCredentialsFromFiles(opts, c.credentials_file.c_str(), nullptr);
  if (s != NATS_OK) {
    natsOptions_Destroy(opts);
    return js::NatsError(s, 0, "JetStream bus: bad connection options");
  }
  s = natsConnection_Connect(&ctx->nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    std::string list;
    for (const auto& u : c.servers) list += (list.empty() ? "" : ",") + u;
    return js::NatsError(s, 0, "cannot connect to NATS at " + list);
  }
  jsOptions_Init(&ctx->api_options);
  ctx->api_options.Wait = c.api_timeout.count();
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = c.api_timeout.count();
  s = natsConnection_JetStream(&ctx->js, ctx->nc, &jo);
  if (s != NATS_OK) return js::NatsError(s, 0, "cannot use JetStream");
  return Status::Ok();
}

}  // namespace

JetStreamBus::JetStreamBus() : ctx_(std::make_unique<JsContext>()) {}

Result<std::unique_ptr<JetStreamBus>> JetStreamBus::Open(const JetStreamConfig& config) {
  std::unique_ptr<JetStreamBus> bus(new JetStreamBus());
  JsContext* ctx = bus->ctx_.get();
  ctx->config = config;
  if (config.stream_prefix.empty() || js::Sanitize(config.stream_prefix) != config.stream_prefix)
    return Status::InvalidArgument("JetStream stream_prefix '" + config.stream_prefix +
                                   "' must be letters, digits, '_' or '-'");
  if (config.default_partitions == 0)
    return Status::InvalidArgument("JetStream default_partitions must be at least 1");
  std::random_device rd;
  char prefix[32];
  snprintf(prefix, sizeof(prefix), "%08x%08x-", rd(), rd());
  ctx->msg_id_prefix = prefix;
  INLET_RETURN_IF_ERROR(Connect(ctx));

  auto publisher = js::JsPublisher::Start(ctx);
  if (!publisher.ok()) return publisher.status();
  bus->publisher_ = std::move(publisher).value();

  // Streams: names and subjects must stay distinct after sanitizing.
  std::set<std::string> streams;
  for (const TopicConfig& t : config.topics) {
    const std::string stream = StreamName(config, t.name);
    if (!streams.insert(stream).second)
      return Status::InvalidArgument("topic " + t.name + " maps to stream " + stream +
                                     " like another topic; rename one of them");
    uint32_t partitions = config.default_partitions;
    if (auto it = config.partitions.find(t.name); it != config.partitions.end())
      partitions = it->second;
    if (partitions == 0)
      return Status::InvalidArgument("topic " + t.name + ": partitions must be at least 1");
    const std::string subject_prefix = config.stream_prefix + "." + js::Sanitize(t.name) + ".";
    auto topic = std::make_unique<JetStreamTopic>(ctx, bus->publisher_.get(), t, stream,
                                                  subject_prefix, partitions);
    INLET_RETURN_IF_ERROR(js::RetryWhileUnavailable(config, "stream " + stream,
                                                    [&] { return topic->EnsureStream(); }));
    Status st = topic->Refresh();
    if (!st.ok()) spdlog::warn("JetStream: {}", st.message());
    bus->topics_.emplace(t.name, std::move(topic));
  }
  // Filter policies of a topic are evaluated together (as on the embedded bus).
  std::map<std::string, std::vector<std::shared_ptr<const FilterPolicy>>> policies;
  std::map<std::string, size_t> policy_index;
  for (const SubscriptionConfig& s : config.subscriptions) {
    if (!s.filter_policy) continue;
    policy_index[s.name] = policies[s.topic].size();
    policies[s.topic].push_back(s.filter_policy);
  }
  for (auto& [topic, list] : policies) {
    auto it = bus->topics_.find(topic);
    if (it != bus->topics_.end()) it->second->set_filters(std::make_unique<TopicFilters>(list));
  }
  std::set<std::string> durables;
  for (const SubscriptionConfig& s : config.subscriptions) {
    auto t = bus->topics_.find(s.topic);
    if (t == bus->topics_.end())
      return Status::NotFound("subscription " + s.name + ": unknown topic " + s.topic);
    JetStreamTopic* dlq = nullptr;
    if (!s.dead_letter_topic.empty()) {
      auto d = bus->topics_.find(s.dead_letter_topic);
      if (d == bus->topics_.end())
        return Status::NotFound("subscription " + s.name + ": unknown dead-letter topic " +
                                s.dead_letter_topic);
      dlq = d->second.get();
    }
    js::ConsumerSpec spec;
    spec.name = s.name;
    spec.durable = js::Sanitize(s.name);
    if (!durables.insert(spec.durable).second)
      return Status::InvalidArgument("subscription " + s.name + " maps to consumer " +
                                     spec.durable + " like another one; rename one of them");
    spec.filter_subject = t->second->subject_prefix() + "*";
    spec.ack_wait = s.visibility_timeout;
    spec.max_deliver = s.max_receive_count > 0 ? static_cast<int64_t>(s.max_receive_count) : -1;
    const bool filtered = policy_index.count(s.name) > 0;
    std::unique_ptr<JetStreamConsumer> consumer;
    INLET_RETURN_IF_ERROR(
        js::RetryWhileUnavailable(config, "consumer " + spec.durable, [&]() -> Status {
          auto c = JetStreamConsumer::Open(ctx, t->second.get(), spec,
                                           filtered ? policy_index[s.name] : 0, filtered, dlq);
          if (!c.ok()) return c.status();
          consumer = std::move(c).value();
          return Status::Ok();
        }));
    bus->subscriptions_.emplace(s.name, std::move(consumer));
    bus->subscription_configs_.emplace(s.name, s);
  }
  std::unique_ptr<js::JetStreamLeases> opened;
  INLET_RETURN_IF_ERROR(js::RetryWhileUnavailable(config, "lease bucket", [&]() -> Status {
    auto l = js::JetStreamLeases::Open(ctx);
    if (!l.ok()) return l.status();
    opened = std::move(l).value();
    return Status::Ok();
  }));
  Result<std::unique_ptr<js::JetStreamLeases>> leases(std::move(opened));
  if (!leases.ok()) return leases.status();
  bus->leases_ = std::move(leases).value();
  bus->maintenance_ = std::thread([b = bus.get()] {
    SetThreadName("bus-maintain");
    b->MaintenanceLoop();
  });
  return bus;
}

JetStreamBus::~JetStreamBus() { Close(); }

void JetStreamBus::Close() {
  {
    std::lock_guard lock(close_mu_);
    if (closed_) return;
    closed_ = true;
  }
  close_cv_.notify_all();
  ctx_->closing.store(true);
  if (maintenance_.joinable()) maintenance_.join();
  if (ctx_->nc != nullptr) natsConnection_FlushTimeout(ctx_->nc, 1000);  // pending acks
  if (publisher_) publisher_->Close();
  subscriptions_.clear();
  leases_.reset();
  publisher_.reset();
  topics_.clear();
  DestroyConnection(ctx_.get());
}

void JetStreamBus::MaintenanceLoop() {
  std::unique_lock lock(close_mu_);
  while (!closed_) {
    close_cv_.wait_for(lock, std::chrono::seconds(2));
    if (closed_) break;
    lock.unlock();
    for (auto& [name, topic] : topics_) {
      Status st = topic->Refresh();
      if (!st.ok()) spdlog::debug("JetStream: {}", st.message());
    }
    lock.lock();
  }
}

Topic* JetStreamBus::FindTopic(std::string_view name) {
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : it->second.get();
}

Consumer* JetStreamBus::FindSubscription(std::string_view name) {
  auto it = subscriptions_.find(name);
  return it == subscriptions_.end() ? nullptr : it->second.get();
}

std::vector<std::string> JetStreamBus::TopicNames() const {
  std::vector<std::string> out;
  for (auto& [name, t] : topics_) out.push_back(name);
  return out;
}

std::vector<std::string> JetStreamBus::SubscriptionNames() const {
  std::vector<std::string> out;
  for (auto& [name, s] : subscriptions_) out.push_back(name);
  return out;
}

uint32_t JetStreamBus::Partitions(std::string_view subscription) const {
  auto s = subscription_configs_.find(subscription);
  if (s == subscription_configs_.end()) return 0;
  auto t = topics_.find(s->second.topic);
  return t == topics_.end() ? 0 : t->second->partitions();
}

Result<std::unique_ptr<Consumer>> JetStreamBus::OpenPartition(std::string_view subscription,
                                                              uint32_t partition) {
  auto s = subscription_configs_.find(subscription);
  if (s == subscription_configs_.end())
    return Status::NotFound("no subscription '" + std::string(subscription) + "'");
  const SubscriptionConfig& sc = s->second;
  JetStreamTopic* topic = topics_.find(sc.topic)->second.get();
  if (partition >= topic->partitions())
    return Status::InvalidArgument("topic " + sc.topic + " has " +
                                   std::to_string(topic->partitions()) +
                                   " partitions; asked for partition " + std::to_string(partition));
  // Policy index: the same as the subscription's (TopicFilters keeps one per
  // subscription with a policy, in configuration order).
  size_t index = 0;
  bool filtered = false;
  for (const SubscriptionConfig& other : ctx_->config.subscriptions) {
    if (other.topic != sc.topic || !other.filter_policy) continue;
    if (other.name == sc.name) {
      filtered = true;
      break;
    }
    ++index;
  }
  return std::unique_ptr<Consumer>(
      new js::JetStreamPartitionReader(ctx_.get(), topic, sc.name, partition, index, filtered));
}

LeaseStore* JetStreamBus::Leases() { return leases_.get(); }

uint64_t JetStreamBus::publish_retries() const { return publisher_ ? publisher_->retries() : 0; }

const JetStreamConfig& JetStreamBus::config() const { return ctx_->config; }

std::string JetStreamBus::StreamName(const JetStreamConfig& config, std::string_view topic) {
  return js::Upper(js::Sanitize(config.stream_prefix)) + "_" + js::Upper(js::Sanitize(topic));
}

void JetStreamBus::ShutdownLibrary() { nats_Close(); }

}  // namespace inlet::bus
