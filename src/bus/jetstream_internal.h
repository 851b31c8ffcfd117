// Internals of the JetStream bus, shared by its .cc files only: the one
// place besides them that includes <nats/nats.h>. JsContext is the bus's
// connection (owned by JetStreamBus); JsPublisher pipelines publishes and
// retries them; JetStreamTopic, JetStreamConsumer and JetStreamLeases
// implement the bus interfaces. All classes are thread-safe.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bus/bus.h"
#include "bus/jetstream_config.h"
#include "bus/topic_filters.h"

namespace inlet::bus::js {

// Message headers carrying what a consumer needs to rebuild a bus::Message;
// the payload is the message data, byte for byte.
inline constexpr const char* kHeaderArrival = "Inlet-Arrival-Us";
inline constexpr const char* kHeaderKeyId = "Inlet-Key-Id";
inline constexpr const char* kHeaderAttributes = "Inlet-Attributes";
inline constexpr const char* kHeaderMsgId = "Nats-Msg-Id";

// JetStream durations are nanoseconds; ours are milliseconds.
inline constexpr int64_t kNanosPerMilli = 1'000'000;
// Most messages one Fetch asks the server for.
inline constexpr size_t kMaxFetch = 10000;

// The connection shared by every part of one bus.
struct JsContext {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  JetStreamConfig config;
  jsOptions api_options;      // Wait = api_timeout
  std::string msg_id_prefix;  // process-unique, for generated Nats-Msg-Id
  std::atomic<uint64_t> msg_id_counter{0};
  std::atomic<bool> closing{false};
  // Set by the connection's closed callback, the last one it runs: the
  // context must outlive it.
  std::mutex closed_mu;
  std::condition_variable closed_cv;
  bool closed = false;
};

// Unsubscribes and waits (bounded) until no callback of `sub` runs, then
// destroys it: the callback's closure may be freed afterwards.
void DrainAndDestroy(natsSubscription* sub);

// A Status for a failed cnats call, with the library's last error text.
Status NatsError(natsStatus s, int jerr, const std::string& what);
// Runs `step` (setting up a stream, consumer or bucket) again while it fails
// with kUnavailable or kTimeout, as while a cluster forms, for up to
// max(3 x api_timeout, 15 s).
Status RetryWhileUnavailable(const JetStreamConfig& config, const std::string& what,
                             const std::function<Status()>& step);
// Letters, digits, '_' and '-' kept; anything else becomes '_'.
std::string Sanitize(std::string_view name);
std::string Upper(std::string_view s);
// Header values cannot hold CR/LF and lose outer blanks: '%', control bytes
// and outer spaces are %XX-escaped.
std::string EscapeHeader(std::string_view value);
std::string UnescapeHeader(std::string_view value);
// Reads the Inlet-* headers and data of a stored or delivered message.
Message MessageFromNats(natsMsg* msg, uint64_t seq);

// One event to publish, already addressed.
struct PubItem {
  std::string stream;
  std::string subject;
  std::string msg_id;
  std::string payload;
  std::string key_id;
  std::string attributes;
  int64_t arrival_us = 0;
};

// Publishes JetStream messages as pipelined core-NATS requests on one reply
// inbox, so a batch costs about one round trip, and retries each message with
// its Nats-Msg-Id on "no responders", 503s and timeouts (leader elections).
// (The cnats async publish API has no per-message timeout in 3.4: a publish
// in flight while its server dies would never complete.) A background thread
// runs timeouts, retries and completions.
class JsPublisher {
 public:
  using Done = std::function<void(Result<SeqRange>)>;
  static Result<std::unique_ptr<JsPublisher>> Start(JsContext* ctx);
  ~JsPublisher();

  // `done` runs once on the publisher's thread (or the reply thread) after
  // every item was acknowledged, or with the first permanent error.
  void Publish(std::vector<PubItem> items, Done done);
  // Runs `done` with `error` on the publisher's thread.
  void Reject(Done done, Status error);
  // Fails everything pending with kUnavailable and stops the thread.
  void Close();
  uint64_t retries() const { return retries_.load(); }

 private:
  struct Batch {
    std::vector<PubItem> items;
    size_t remaining = 0;
    uint64_t first = UINT64_MAX;
    uint64_t last = 0;
    Done done;
    bool finished = false;
  };
  struct Attempt {
    std::shared_ptr<Batch> batch;
    size_t index = 0;
    int attempt = 0;          // 0 for the first send
    int64_t first_us = 0;     // first send
    uint64_t stored_seq = 0;  // a "duplicate" answer's sequence, to verify
  };

  explicit JsPublisher(JsContext* ctx) : ctx_(ctx) {}
  static void OnReply(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
  void HandleReply(natsMsg* msg);
  // Sends one attempt; on a local failure schedules a retry. Not under mu_.
  void Send(Attempt a);
  // Requires mu_. Schedules a retry or fails the batch.
  void RetryOrFail(Attempt a, Status error, bool retryable);
  // Requires mu_.
  void Fail(const std::shared_ptr<Batch>& batch, Status error);
  void Loop();
  void RunCompletions(std::unique_lock<std::mutex>& lock);
  // Requires mu_. Counts one acknowledged item of its batch.
  void Complete(Attempt a, uint64_t seq);
  // Not under mu_. True when the stream holds this item at a.stored_seq.
  bool VerifyDuplicate(const Attempt& a);

  JsContext* const ctx_;
  natsSubscription* sub_ = nullptr;
  std::string inbox_;  // "_INBOX.<random>."
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  uint64_t next_token_ = 1;
  size_t pending_events_ = 0;  // in flight or waiting for a retry
  std::unordered_map<uint64_t, Attempt> in_flight_;
  std::deque<std::pair<int64_t, uint64_t>> deadlines_;  // (deadline µs, token), in order
  std::multimap<int64_t, Attempt> retry_at_;
  std::deque<Attempt> verify_;  // answered "duplicate", to check
  std::vector<std::function<void()>> completions_;
  std::atomic<uint64_t> retries_{0};
  int64_t last_warning_us_ = 0;
  uint64_t unlogged_retries_ = 0;
  std::thread thread_;
};

class JetStreamTopic final : public Topic {
 public:
  JetStreamTopic(JsContext* ctx, JsPublisher* publisher, TopicConfig config, std::string stream,
                 std::string subject_prefix, uint32_t partitions);
  const std::string& name() const override { return config_.name; }
  void PublishAsync(std::vector<OutgoingEvent> events, PublishDone done) override;
  uint64_t StoredBytes() const override { return stored_bytes_.load(); }
  uint64_t LastSeq() const override { return last_seq_.load(); }

  // Publishes stored messages again (dead letters) keeping their arrival
  // time and headers; `dedup_ids` make repeated attempts harmless.
  void Republish(std::vector<Message> messages, std::vector<std::string> dedup_ids,
                 PublishDone done);
  // Creates the stream or reconciles its settings (never deletes it).
  Status EnsureStream();
  // Reads stored bytes and last sequence from the stream info.
  Status Refresh();

  const std::string& stream() const { return stream_; }
  const std::string& subject_prefix() const { return subject_prefix_; }  // "<prefix>.<topic>."
  uint32_t partitions() const { return partitions_; }
  TopicFilters* filters() { return filters_.get(); }
  void set_filters(std::unique_ptr<TopicFilters> f) { filters_ = std::move(f); }

 private:
  void Send(std::vector<PubItem> items, PublishDone done);

  JsContext* const ctx_;
  JsPublisher* const publisher_;
  const TopicConfig config_;
  const std::string stream_;
  const std::string subject_prefix_;
  const uint32_t partitions_;
  std::unique_ptr<TopicFilters> filters_;
  std::atomic<uint64_t> stored_bytes_{0};
  std::atomic<uint64_t> last_seq_{0};
};

// What a JetStreamConsumer reads and how its durable consumer is shaped.
struct ConsumerSpec {
  std::string name;     // the subscription's name (Consumer::name)
  std::string durable;  // JetStream durable consumer name
  std::string filter_subject;
  Millis ack_wait{30000};
  int64_t max_deliver = -1;  // -1: unlimited
};

// One no-wait pull request on `sub`; appends the messages to *out (at most
// `batch`). Timeouts and "no messages" are not errors; *raw (optional) gets
// the library's status. `what` names the consumer in errors.
Status PullBatch(natsSubscription* sub, int batch, int64_t max_bytes, Millis expires,
                 const std::string& what, std::vector<natsMsg*>* out, natsStatus* raw = nullptr);

// A durable pull consumer with SQS semantics (see bus.h). In-flight
// deliveries are remembered by stream sequence with their ack subject and
// attempt, so that a stale receipt is recognised and ignored.
class JetStreamConsumer final : public Consumer {
 public:
  static Result<std::unique_ptr<JetStreamConsumer>> Open(JsContext* ctx, JetStreamTopic* topic,
                                                         ConsumerSpec spec, size_t filter_index,
                                                         bool filtered,
                                                         JetStreamTopic* dead_letter);
  ~JetStreamConsumer() override;

  const std::string& name() const override { return spec_.name; }
  Result<std::vector<Delivery>> Fetch(const FetchOptions& options) override;
  Status Ack(std::span<const Receipt> receipts) override;
  Status Nack(std::span<const Receipt> receipts, Millis delay) override;
  SubscriptionStats Stats() const override;

  uint64_t stale_receipts() const;
  const std::string& durable() const { return spec_.durable; }

 private:
  struct InFlight {
    std::string ack_subject;
    uint32_t attempt = 0;
    int64_t arrival_us = 0;
  };

  JetStreamConsumer(JsContext* ctx, JetStreamTopic* topic, ConsumerSpec spec, size_t filter_index,
                    bool filtered, JetStreamTopic* dead_letter)
      : ctx_(ctx),
        topic_(topic),
        spec_(std::move(spec)),
        filter_index_(filter_index),
        filtered_(filtered),
        dead_letter_(dead_letter) {}
  Status EnsureConsumer();
  Result<natsSubscription*> TakeSubscription();
  void ReturnSubscription(natsSubscription* sub);
  static void OnAdvisory(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
  void DeadLetterLoop();
  void DeadLetter(uint64_t stream_seq);

  JsContext* const ctx_;
  JetStreamTopic* const topic_;
  const ConsumerSpec spec_;
  const size_t filter_index_;
  const bool filtered_;
  JetStreamTopic* const dead_letter_;

  std::mutex subs_mu_;
  std::vector<natsSubscription*> idle_subs_;
  std::vector<natsSubscription*> all_subs_;

  mutable std::mutex mu_;
  std::unordered_map<uint64_t, InFlight> in_flight_;
  uint64_t delivered_ = 0, acked_ = 0, dead_lettered_ = 0, stale_ = 0, filtered_out_ = 0;
  mutable int64_t info_at_us_ = 0;
  mutable uint64_t info_pending_ = 0, info_ack_pending_ = 0;

  // Dead letters: advisories queue stream sequences for a worker thread.
  natsSubscription* advisory_sub_ = nullptr;
  std::mutex dl_mu_;
  std::condition_variable dl_cv_;
  std::deque<uint64_t> dl_queue_;
  bool dl_stop_ = false;
  std::thread dl_thread_;
};

// Reads one partition of a subscription in stream order for the one process
// that owns the partition, from a position its caller keeps with its own
// commits (StartAfter), as Kafka Connect sinks keep offsets with their
// output. The server side is a consumer without acks, created for this
// reader only: a delivery can never be acknowledged by a previous owner,
// and a message lost between server and client is never skipped, because
// consumer sequences must follow each other; any gap, error or vanished
// consumer re-creates it right after the last message handed out. Nack
// rewinds to the oldest nacked message. Ack only settles in-flight
// bookkeeping. One Fetch at a time; Stats is thread-safe.
class JetStreamPartitionReader final : public Consumer {
 public:
  JetStreamPartitionReader(JsContext* ctx, JetStreamTopic* topic, std::string name,
                           uint32_t partition, size_t filter_index, bool filtered);
  ~JetStreamPartitionReader() override;  // deletes its server consumer

  const std::string& name() const override { return name_; }
  Status StartAfter(uint64_t seq) override;
  Result<std::vector<Delivery>> Fetch(const FetchOptions& options) override;
  Status Ack(std::span<const Receipt> receipts) override;
  Status Nack(std::span<const Receipt> receipts, Millis delay) override;
  SubscriptionStats Stats() const override;

  // Server consumers created so far (1 + re-creations after gaps or errors).
  uint64_t incarnations() const;

 private:
  // Deletes the current server consumer (best effort) and creates one that
  // starts at next_seq_.
  Status Recreate();
  void DropServerConsumer();
  std::string Label() const;
  // False when `id` was among the last ids seen (requires mu_).
  bool RememberMsgId(std::string_view id);

  JsContext* const ctx_;
  JetStreamTopic* const topic_;
  const std::string name_;
  const uint32_t partition_;
  const std::string filter_subject_;
  const size_t filter_index_;
  const bool filtered_;

  // Only the fetching thread touches these.
  natsSubscription* sub_ = nullptr;
  uint64_t next_dseq_ = 1;

  mutable std::mutex mu_;
  std::string consumer_;                                // current server consumer; empty: none
  std::chrono::steady_clock::time_point not_before_{};  // after a Nack with a delay
  uint64_t next_seq_ = 1;                               // stream sequence to hand out next
  bool reset_ = true;                      // the server consumer must be (re-)created first
  std::map<uint64_t, int64_t> in_flight_;  // handed out, not acked: seq -> arrival µs
  uint64_t delivered_ = 0, acked_ = 0, filtered_out_ = 0, incarnations_ = 0, gaps_ = 0;
  uint64_t duplicates_ = 0;
  std::unordered_set<uint64_t> recent_ids_;  // hashes of recent Nats-Msg-Ids
  std::deque<uint64_t> recent_order_;
  mutable int64_t info_at_us_ = 0;
  mutable uint64_t info_pending_ = 0;
};

// Leases on a KV bucket whose entries expire `lease_ttl` after their last
// write (the bucket's MaxAge).
class JetStreamLeases final : public LeaseStore {
 public:
  static Result<std::unique_ptr<JetStreamLeases>> Open(JsContext* ctx);
  ~JetStreamLeases() override;
  Result<uint64_t> Create(std::string_view key, std::string_view value) override;
  Result<uint64_t> Update(std::string_view key, std::string_view value, uint64_t revision) override;
  Status Delete(std::string_view key) override;
  Result<std::vector<std::pair<std::string, std::string>>> List(std::string_view prefix) override;
  Millis ttl() const override { return ctx_->config.lease_ttl; }

 private:
  explicit JetStreamLeases(JsContext* ctx) : ctx_(ctx) {}
  // kNotFound, kOk (live) or an error.
  Status Probe(const std::string& key);

  JsContext* const ctx_;
  kvStore* kv_ = nullptr;
};

}  // namespace inlet::bus::js
