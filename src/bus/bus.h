// The bus interfaces: a Topic takes durable appends, a Consumer pulls from a
// subscription with SQS semantics (fetch, ack, nack with delay, visibility
// timeout, max receive count, dead letter). The embedded log and NATS
// JetStream implement the same interfaces; nothing above the bus depends on
// which one runs. Implementations are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bus/message.h"
#include "common/status.h"

namespace inlet::bus {

using Millis = std::chrono::milliseconds;

// Sequence ids [first, last] assigned to a published batch, in order.
struct SeqRange {
  uint64_t first = 0;
  uint64_t last = 0;
};

class Topic {
 public:
  using PublishDone = std::function<void(Result<SeqRange>)>;
  virtual ~Topic() = default;

  virtual const std::string& name() const = 0;

  // Appends `events` as one batch. `done` runs exactly once, on a bus thread,
  // after every event of the batch is durable (fsync'd, or acknowledged by the
  // replicated stream), or with an error: kResourceExhausted under
  // back-pressure (retry later), kUnavailable when shutting down, kIoError.
  // The batch is atomic: either all events get ids or none does.
  virtual void PublishAsync(std::vector<OutgoingEvent> events, PublishDone done) = 0;

  // Convenience for callers that can block: waits for PublishAsync.
  Result<SeqRange> Publish(std::vector<OutgoingEvent> events);

  // Bytes of retained log, for the disk budget and metrics.
  virtual uint64_t StoredBytes() const = 0;
  // Highest durable sequence id (0 when empty).
  virtual uint64_t LastSeq() const = 0;
};

// Identifies one delivery of one message; stale after a redelivery.
struct Receipt {
  uint64_t seq = 0;
  uint32_t attempt = 0;  // receive count of this delivery, from 1

  std::string Encode(std::string_view subscription) const;
  static Result<Receipt> Decode(std::string_view text, std::string_view subscription);
};

struct Delivery {
  Message message;
  Receipt receipt;
};

struct SubscriptionStats {
  uint64_t backlog = 0;             // matching messages not yet acknowledged
  uint64_t in_flight = 0;           // delivered, not acknowledged, not yet visible again
  uint64_t dead_lettered = 0;       // moved to the dead-letter topic since start
  uint64_t delivered = 0;           // deliveries since start, redeliveries included
  uint64_t acked = 0;               // acknowledgements since start
  double oldest_unacked_age_s = 0;  // arrival age of the oldest unacknowledged message
};

struct FetchOptions {
  size_t max_messages = 100;
  size_t max_bytes = 8 << 20;
  Millis wait{0};                 // long poll: wait up to this long for a first message
  Millis visibility_timeout{-1};  // negative: the subscription's default
};

class Consumer {
 public:
  virtual ~Consumer() = default;
  virtual const std::string& name() const = 0;

  // Returns up to max_messages visible messages, marking them in flight for
  // the visibility timeout. Empty when none arrived within `wait`.
  virtual Result<std::vector<Delivery>> Fetch(const FetchOptions& options) = 0;
  // Acknowledges deliveries; a stale receipt (redelivered since) is ignored
  // and counted, as SQS does.
  virtual Status Ack(std::span<const Receipt> receipts) = 0;
  // Makes deliveries visible again after `delay`.
  virtual Status Nack(std::span<const Receipt> receipts, Millis delay) = 0;
  virtual SubscriptionStats Stats() const = 0;
  // Partition readers (Bus::OpenPartition) start right after `seq`, the last
  // sequence their owner committed with its output, when called before the
  // first Fetch. Consumers with a server-side cursor ignore it.
  virtual Status StartAfter(uint64_t seq) {
    (void)seq;
    return Status::Ok();
  }
};

// Shared, expiring key/value records through which the processes of a role
// agree on membership and partition ownership (a NATS KV bucket on
// JetStream). Every record expires `ttl()` after its last write unless
// refreshed. Thread-safe.
class LeaseStore {
 public:
  virtual ~LeaseStore() = default;
  // Creates `key` when it is absent (or expired): returns its revision;
  // kAlreadyExists when a live record holds it.
  virtual Result<uint64_t> Create(std::string_view key, std::string_view value) = 0;
  // Rewrites `key` only if its revision is still `revision` (compare and
  // swap), which also refreshes its expiry: returns the new revision;
  // kAlreadyExists when someone else wrote it since, kNotFound when expired.
  virtual Result<uint64_t> Update(std::string_view key, std::string_view value,
                                  uint64_t revision) = 0;
  // Removes `key` (release); OK when absent.
  virtual Status Delete(std::string_view key) = 0;
  // Live records whose key starts with `prefix`, as (key, value), sorted by key.
  virtual Result<std::vector<std::pair<std::string, std::string>>> List(
      std::string_view prefix) = 0;
  virtual Millis ttl() const = 0;
};

// A bus holds the topics and subscriptions a configuration declares.
class Bus {
 public:
  virtual ~Bus() = default;
  // nullptr when unknown. The bus owns them; they live as long as the bus.
  virtual Topic* FindTopic(std::string_view name) = 0;
  virtual Consumer* FindSubscription(std::string_view name) = 0;
  virtual std::vector<std::string> TopicNames() const = 0;
  virtual std::vector<std::string> SubscriptionNames() const = 0;

  // Partitions of the topic a subscription reads (1 on the embedded bus).
  virtual uint32_t Partitions(std::string_view subscription) const {
    (void)subscription;
    return 1;
  }
  // A reader of one partition of a subscription, for the one worker that
  // owns the partition (see LeaseStore): it delivers the partition's
  // messages in sequence order, without gaps, from the position its owner
  // passes to StartAfter (the owner's own commit is the position, so a new
  // owner resumes exactly where the last commit ended); Nack rewinds. The
  // caller owns it and must destroy it before closing the bus. The embedded
  // bus has one partition: OpenPartition(name, 0) reads FindSubscription(name)
  // (its durable cursor; StartAfter is ignored).
  virtual Result<std::unique_ptr<Consumer>> OpenPartition(std::string_view subscription,
                                                          uint32_t partition);
  // Where the processes of a role coordinate; null when one process runs
  // everything (embedded bus), which then owns every partition.
  virtual LeaseStore* Leases() { return nullptr; }
  // Stops background work and persists cursors; pending publishes fail.
  virtual void Close() = 0;
};

}  // namespace inlet::bus
