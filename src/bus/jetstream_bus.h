// JetStreamBus: the bus on a (replicated) NATS JetStream cluster. One stream
// per topic (<PREFIX>_<TOPIC>, subjects <prefix>.<topic>.<partition>), one
// durable pull consumer per subscription, one per partition for the workers
// that own partitions, and a KV bucket for leases. See src/bus/README.md
// ("JetStream") for how SQS semantics map onto JetStream. The bus owns its
// topics, consumers and connection; callers own the partition consumers they
// open and must destroy them before Close(). Thread-safe.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "bus/bus.h"
#include "bus/jetstream_config.h"

namespace inlet::bus {

namespace js {
struct JsContext;
class JsPublisher;
class JetStreamTopic;
class JetStreamConsumer;
class JetStreamLeases;
}  // namespace js

class JetStreamBus final : public Bus {
 public:
  // Connects, creates or reconciles every stream, durable consumer and the
  // lease bucket. Never deletes a stream. Fails with kUnavailable when no
  // server answers, kInvalidArgument for a bad configuration.
  static Result<std::unique_ptr<JetStreamBus>> Open(const JetStreamConfig& config);
  ~JetStreamBus() override;

  Topic* FindTopic(std::string_view name) override;
  Consumer* FindSubscription(std::string_view name) override;
  std::vector<std::string> TopicNames() const override;
  std::vector<std::string> SubscriptionNames() const override;
  uint32_t Partitions(std::string_view subscription) const override;
  // A consumer `<subscription>_p<partition>` filtered on the partition's
  // subject, delivering in stream order from right after its previous ack
  // floor (the durable is re-created at that position).
  Result<std::unique_ptr<Consumer>> OpenPartition(std::string_view subscription,
                                                  uint32_t partition) override;
  LeaseStore* Leases() override;
  // Fails pending publishes with kUnavailable, drains and frees every NATS
  // object. Idempotent.
  void Close() override;

  // The stream of `topic`: <PREFIX>_<TOPIC>, upper case, other characters
  // than letters, digits, '_' and '-' replaced by '_'.
  static std::string StreamName(const JetStreamConfig& config, std::string_view topic);

  // Publish attempts repeated after a timeout or "no responders".
  uint64_t publish_retries() const;
  const JetStreamConfig& config() const;

  // Frees the NATS library's global state (threads, timers). Call at most
  // once per process, after every bus is closed; optional (the process exit
  // does the same).
  static void ShutdownLibrary();

 private:
  JetStreamBus();
  void MaintenanceLoop();

  std::unique_ptr<js::JsContext> ctx_;
  std::unique_ptr<js::JsPublisher> publisher_;
  std::map<std::string, std::unique_ptr<js::JetStreamTopic>, std::less<>> topics_;
  std::map<std::string, std::unique_ptr<js::JetStreamConsumer>, std::less<>> subscriptions_;
  std::map<std::string, SubscriptionConfig, std::less<>> subscription_configs_;
  std::unique_ptr<js::JetStreamLeases> leases_;
  std::mutex close_mu_;
  std::condition_variable close_cv_;
  bool closed_ = false;
  std::thread maintenance_;
};

}  // namespace inlet::bus
