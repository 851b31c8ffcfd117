#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <thread>

#include "bus/jetstream_internal.h"
#include "common/clock.h"

namespace inlet::bus::js {

namespace {

// A server consumer that no request touched for this long is removed by the
// server (a killed owner's consumer); a live reader re-creates it if it was
// idle for longer.
constexpr int64_t kInactiveThresholdMs = 60'000;
// Message ids remembered to drop a message stored twice (see Fetch).
constexpr size_t kRecentMsgIds = 16384;

std::string RandomSuffix() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace

JetStreamPartitionReader::JetStreamPartitionReader(JsContext* ctx, JetStreamTopic* topic,
                                                   std::string name, uint32_t partition,
                                                   size_t filter_index, bool filtered)
    : ctx_(ctx),
      topic_(topic),
      name_(std::move(name)),
      partition_(partition),
      filter_subject_(topic->subject_prefix() + std::to_string(partition)),
      filter_index_(filter_index),
      filtered_(filtered) {}

JetStreamPartitionReader::~JetStreamPartitionReader() { DropServerConsumer(); }

std::string JetStreamPartitionReader::Label() const {
  return topic_->stream() + " partition " + std::to_string(partition_) + " (" + name_ + ")";
}

uint64_t JetStreamPartitionReader::incarnations() const {
  std::lock_guard lock(mu_);
  return incarnations_;
}

Status JetStreamPartitionReader::StartAfter(uint64_t seq) {
  std::lock_guard lock(mu_);
  next_seq_ = seq + 1;
  reset_ = true;
  in_flight_.clear();
  recent_ids_.clear();
  recent_order_.clear();
  return Status::Ok();
}

void JetStreamPartitionReader::DropServerConsumer() {
  if (sub_ != nullptr) {
    natsSubscription_Destroy(sub_);
    sub_ = nullptr;
  }
  std::string consumer;
  {
    std::lock_guard lock(mu_);
    consumer.swap(consumer_);
  }
  if (consumer.empty()) return;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  // Best effort: a consumer that cannot be deleted now is removed by the
  // server after its inactivity threshold.
  (void)js_DeleteConsumer(ctx_->js, topic_->stream().c_str(), consumer.c_str(), &ctx_->api_options,
                          &jerr);
}

Status JetStreamPartitionReader::Recreate() {
  DropServerConsumer();
  uint64_t start;
  {
    std::lock_guard lock(mu_);
    start = next_seq_;
  }
  const std::string name =
      Sanitize(name_) + "_p" + std::to_string(partition_) + "_" + RandomSuffix();
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = name.c_str();
  cc.AckPolicy = js_AckNone;
  cc.FilterSubject = filter_subject_.c_str();
  cc.DeliverPolicy = js_DeliverByStartSequence;
  cc.OptStartSeq = std::max<uint64_t>(start, 1);
  cc.ReplayPolicy = js_ReplayInstant;
  cc.InactiveThreshold = kInactiveThresholdMs * kNanosPerMilli;
  cc.Replicas = 1;  // its position lives with the owner's commits, not here
  jsConsumerInfo* ci = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s =
      js_AddConsumer(&ci, ctx_->js, topic_->stream().c_str(), &cc, &ctx_->api_options, &jerr);
  jsConsumerInfo_Destroy(ci);
  if (s != NATS_OK) return NatsError(s, jerr, "cannot create a reader of " + Label());
  {
    std::lock_guard lock(mu_);
    consumer_ = name;
  }
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = topic_->stream().c_str();
  so.Consumer = name.c_str();
  so.ManualAck = true;
  jerr = static_cast<jsErrCode>(0);
  s = js_PullSubscribe(&sub_, ctx_->js, filter_subject_.c_str(), name.c_str(), &ctx_->api_options,
                       &so, &jerr);
  if (s != NATS_OK) {
    sub_ = nullptr;
    Status st = NatsError(s, jerr, "cannot pull from " + Label());
    DropServerConsumer();
    return st;
  }
  natsSubscription_SetPendingLimits(sub_, -1, -1);
  next_dseq_ = 1;
  std::lock_guard lock(mu_);
  reset_ = false;
  ++incarnations_;
  return Status::Ok();
}

Result<std::vector<Delivery>> JetStreamPartitionReader::Fetch(const FetchOptions& options) {
  const size_t max = std::clamp<size_t>(options.max_messages, 1, kMaxFetch);
  const int64_t max_bytes = static_cast<int64_t>(options.max_bytes);
  const auto deadline = std::chrono::steady_clock::now() + options.wait;
  std::vector<Delivery> out;
  bool reset;
  std::chrono::steady_clock::time_point not_before;
  {
    std::lock_guard lock(mu_);
    reset = reset_;
    not_before = not_before_;
  }
  if (std::chrono::steady_clock::now() < not_before) {
    // Rewound by a Nack with a delay.
    std::this_thread::sleep_for(std::min(not_before, deadline) - std::chrono::steady_clock::now());
    if (std::chrono::steady_clock::now() < not_before) return out;
  }
  if (reset) INLET_RETURN_IF_ERROR(Recreate());
  const std::string what = Label();
  for (Millis pause(2);;) {
    std::vector<natsMsg*> msgs;
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    natsStatus raw = NATS_OK;
    Status st = PullBatch(sub_, static_cast<int>(max), max_bytes, left, what, &msgs, &raw);
    if (!st.ok() || raw == NATS_TIMEOUT) {
      // A no-wait request is answered at once by a live consumer: its server
      // died, or the consumer was removed. Read on from a new one.
      for (natsMsg* m : msgs) natsMsg_Destroy(m);
      std::lock_guard lock(mu_);
      reset_ = true;
      if (!st.ok()) return st;
      return out;
    }
    bool gap = false;
    for (natsMsg* m : msgs) {
      if (gap) {
        natsMsg_Destroy(m);
        continue;
      }
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
        natsMsg_Destroy(m);  // not a stream message (a status the library let through)
        continue;
      }
      const uint64_t seq = meta->Sequence.Stream;
      const uint64_t dseq = meta->Sequence.Consumer;
      jsMsgMetaData_Destroy(meta);
      if (dseq != next_dseq_) {
        // A delivery never reached us (dropped in transit, or the consumer
        // moved): what follows would skip it. Read again from the first
        // message not handed out.
        natsMsg_Destroy(m);
        gap = true;
        uint64_t from;
        {
          std::lock_guard lock(mu_);
          from = next_seq_;
        }
        spdlog::warn(
            "JetStream: {}: delivery {} arrived where {} was expected; re-reading from "
            "sequence {}",
            Label(), dseq, next_dseq_, from);
        continue;
      }
      ++next_dseq_;
      std::lock_guard lock(mu_);
      if (seq < next_seq_) {  // cannot happen with a fresh consumer; never hand out twice
        natsMsg_Destroy(m);
        continue;
      }
      next_seq_ = seq + 1;
      const char* msg_id = nullptr;
      if (natsMsgHeader_Get(m, kHeaderMsgId, &msg_id) == NATS_OK && msg_id != nullptr &&
          !RememberMsgId(msg_id)) {
        // nats-server 2.9 can store a publish retried across a leader change
        // twice (two sequences, one Nats-Msg-Id): hand out the first only.
        natsMsg_Destroy(m);
        ++duplicates_;
        continue;
      }
      Message msg = MessageFromNats(m, seq);
      natsMsg_Destroy(m);
      TopicFilters* filters = topic_->filters();
      if (filtered_ && filters != nullptr && !filters->Matches(filter_index_, msg)) {
        ++filtered_out_;
        continue;
      }
      in_flight_[seq] = msg.arrival_us;
      ++delivered_;
      out.push_back(Delivery{std::move(msg), Receipt{seq, 1}});
    }
    if (gap) {
      std::lock_guard lock(mu_);
      reset_ = true;
      ++gaps_;
      return out;
    }
    left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (!out.empty() || left.count() <= 0) return out;
    if (!msgs.empty()) continue;  // all filtered out: read on
    std::this_thread::sleep_for(std::min(pause, left));
    pause = std::min(pause * 2, Millis(50));
  }
}

bool JetStreamPartitionReader::RememberMsgId(std::string_view id) {
  const uint64_t h = std::hash<std::string_view>{}(id);
  if (!recent_ids_.insert(h).second) return false;
  recent_order_.push_back(h);
  if (recent_order_.size() > kRecentMsgIds) {
    recent_ids_.erase(recent_order_.front());
    recent_order_.pop_front();
  }
  return true;
}

Status JetStreamPartitionReader::Ack(std::span<const Receipt> receipts) {
  std::lock_guard lock(mu_);
  for (const Receipt& r : receipts) {
    if (in_flight_.erase(r.seq) > 0) ++acked_;
  }
  return Status::Ok();
}

Status JetStreamPartitionReader::Nack(std::span<const Receipt> receipts, Millis delay) {
  if (receipts.empty()) return Status::Ok();
  uint64_t oldest = UINT64_MAX;
  for (const Receipt& r : receipts) oldest = std::min(oldest, r.seq);
  std::lock_guard lock(mu_);
  // Rewind: everything from the oldest nacked message is read again, in order.
  next_seq_ = std::min(next_seq_, oldest);
  in_flight_.erase(in_flight_.lower_bound(oldest), in_flight_.end());
  recent_ids_.clear();  // what comes again is not a duplicate
  recent_order_.clear();
  reset_ = true;
  not_before_ = std::chrono::steady_clock::now() + delay;
  return Status::Ok();
}

SubscriptionStats JetStreamPartitionReader::Stats() const {
  SubscriptionStats st;
  const int64_t now = NowMicros();
  std::string consumer;
  {
    std::lock_guard lock(mu_);
    if (now - info_at_us_ > 1'000'000) consumer = consumer_;
  }
  if (!consumer.empty()) {
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetConsumerInfo(&ci, ctx_->js, topic_->stream().c_str(), consumer.c_str(),
                                      &ctx_->api_options, &jerr);
    std::lock_guard lock(mu_);
    if (s == NATS_OK) {
      info_pending_ = ci->NumPending;
      info_at_us_ = now;
    }
    jsConsumerInfo_Destroy(ci);
  }
  std::lock_guard lock(mu_);
  st.in_flight = in_flight_.size();
  st.backlog = info_pending_ + st.in_flight;
  st.delivered = delivered_;
  st.acked = acked_;
  int64_t oldest = 0;
  for (const auto& [seq, arrival] : in_flight_) {
    if (arrival > 0 && (oldest == 0 || arrival < oldest)) oldest = arrival;
  }
  if (oldest > 0) st.oldest_unacked_age_s = static_cast<double>(now - oldest) / 1e6;
  return st;
}

}  // namespace inlet::bus::js
