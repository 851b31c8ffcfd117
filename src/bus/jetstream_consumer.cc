#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <future>
#include <thread>

#include "bus/jetstream_internal.h"
#include "common/clock.h"

namespace inlet::bus::js {

namespace {

constexpr const char* kAck = "+ACK";

bool Nothing(natsStatus s) { return s == NATS_TIMEOUT || s == NATS_NOT_FOUND; }

// nats-server 2.10 may end a fulfilled pull request with the status "409
// Batch Completed", which libnats 3.4 reports as an error: it is the request's
// normal end.
bool BatchCompleted(natsStatus s) {
  natsStatus last_status = NATS_OK;
  const char* last = nats_GetLastError(&last_status);
  return last != nullptr && last_status == s && std::strstr(last, "Batch Completed") != nullptr;
}

std::string NakPayload(Millis delay) {
  if (delay.count() <= 0) return "-NAK";
  return "-NAK {\"delay\":" + std::to_string(delay.count() * kNanosPerMilli) + "}";
}

}  // namespace

Status PullBatch(natsSubscription* sub, int batch, int64_t max_bytes, Millis expires,
                 const std::string& what, std::vector<natsMsg*>* out, natsStatus* raw) {
  // Only no-wait requests, which the server ends as soon as it delivered
  // what it had (or, while nacked messages are not yet due, at `expires`),
  // with a client timeout of at least a second: no message of a request
  // arrives after the client stopped waiting for it. libnats 3.4.1 keeps
  // such late messages in the subscription and overflows its result array
  // when the next fetch collects them (heap corruption seen under load), so
  // the long poll is a loop of these requests (Fetch).
  jsFetchRequest req;
  jsFetchRequest_Init(&req);
  req.Batch = batch;
  req.MaxBytes = max_bytes;
  req.NoWait = true;
  req.Expires = static_cast<int64_t>(std::max(expires, Millis(1000)).count()) * kNanosPerMilli;
  natsMsgList list{};
  natsStatus s = natsSubscription_FetchRequest(&list, sub, &req);
  if (s != NATS_OK && BatchCompleted(s)) s = NATS_OK;
  if (raw != nullptr) *raw = s;
  if (s != NATS_OK && list.Count == 0) {
    natsMsgList_Destroy(&list);
    if (Nothing(s)) return Status::Ok();
    return NatsError(s, 0, "cannot fetch from " + what);
  }
  // A request that ended with a status after some messages (nats-server 2.10
  // ends some with "409 Batch Completed") still delivered those: they are
  // handed out, not dropped to come back after the ack wait.
  const int count = std::min(list.Count, batch);
  out->reserve(out->size() + static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    out->push_back(list.Msgs[i]);
    list.Msgs[i] = nullptr;
  }
  natsMsgList_Destroy(&list);
  return Status::Ok();
}

Result<std::unique_ptr<JetStreamConsumer>> JetStreamConsumer::Open(
    JsContext* ctx, JetStreamTopic* topic, ConsumerSpec spec, size_t filter_index, bool filtered,
    JetStreamTopic* dead_letter) {
  std::unique_ptr<JetStreamConsumer> c(
      new JetStreamConsumer(ctx, topic, std::move(spec), filter_index, filtered, dead_letter));
  INLET_RETURN_IF_ERROR(c->EnsureConsumer());
  // Check that we can pull before handing the consumer out.
  auto sub = c->TakeSubscription();
  if (!sub.ok()) return sub.status();
  c->ReturnSubscription(sub.value());
  if (dead_letter != nullptr && c->spec_.max_deliver > 0) {
    const std::string subject =
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + topic->stream() + "." + c->spec_.durable;
    natsStatus s = natsConnection_Subscribe(&c->advisory_sub_, ctx->nc, subject.c_str(),
                                            &JetStreamConsumer::OnAdvisory, c.get());
    if (s != NATS_OK) return NatsError(s, 0, "cannot subscribe to " + subject);
    c->dl_thread_ = std::thread([raw = c.get()] { raw->DeadLetterLoop(); });
  }
  return c;
}

JetStreamConsumer::~JetStreamConsumer() {
  DrainAndDestroy(advisory_sub_);
  {
    std::lock_guard lock(dl_mu_);
    dl_stop_ = true;
  }
  dl_cv_.notify_all();
  if (dl_thread_.joinable()) dl_thread_.join();
  for (natsSubscription* sub : all_subs_) natsSubscription_Destroy(sub);
}

Status JetStreamConsumer::EnsureConsumer() {
  const std::string& stream = topic_->stream();
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = spec_.durable.c_str();
  cc.AckPolicy = js_AckExplicit;
  cc.AckWait = static_cast<int64_t>(spec_.ack_wait.count()) * kNanosPerMilli;
  cc.MaxDeliver = spec_.max_deliver;
  cc.FilterSubject = spec_.filter_subject.c_str();
  cc.MaxAckPending = 1'000'000;
  cc.DeliverPolicy = js_DeliverAll;
  cc.ReplayPolicy = js_ReplayInstant;

  jsConsumerInfo* ci = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetConsumerInfo(&ci, ctx_->js, stream.c_str(), spec_.durable.c_str(),
                                    &ctx_->api_options, &jerr);
  const bool exists = s == NATS_OK;
  if (!exists && !(s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr))
    return NatsError(s, jerr, "cannot read consumer " + stream + "/" + spec_.durable);

  if (!exists) {
    jerr = static_cast<jsErrCode>(0);
    s = js_AddConsumer(&ci, ctx_->js, stream.c_str(), &cc, &ctx_->api_options, &jerr);
    jsConsumerInfo_Destroy(ci);
    if (s != NATS_OK)
      return NatsError(s, jerr, "cannot create consumer " + stream + "/" + spec_.durable);
    spdlog::info("JetStream: created consumer {}/{} ({})", stream, spec_.durable,
                 spec_.filter_subject);
    return Status::Ok();
  }
  const jsConsumerConfig& have = *ci->Config;
  const bool filter_differs =
      have.FilterSubject == nullptr || spec_.filter_subject != have.FilterSubject;
  const bool differs = filter_differs || have.AckWait != cc.AckWait ||
                       have.MaxDeliver != cc.MaxDeliver || have.AckPolicy != cc.AckPolicy;
  jsConsumerInfo_Destroy(ci);
  ci = nullptr;
  if (!differs) return Status::Ok();
  jerr = static_cast<jsErrCode>(0);
  s = js_UpdateConsumer(&ci, ctx_->js, stream.c_str(), &cc, &ctx_->api_options, &jerr);
  jsConsumerInfo_Destroy(ci);
  if (s != NATS_OK) {
    Status st = NatsError(s, jerr, "cannot update consumer " + stream + "/" + spec_.durable);
    if (filter_differs) {
      return Status::InvalidArgument(
          st.message() + ": its filter subject differs from " + spec_.filter_subject +
          "; delete the consumer (not the stream) with `nats consumer rm` to re-create it");
    }
    spdlog::error("JetStream: {}; keeping its current visibility timeout/max receive count",
                  st.message());
    return Status::Ok();
  }
  spdlog::info("JetStream: updated consumer {}/{}", stream, spec_.durable);
  return Status::Ok();
}

Result<natsSubscription*> JetStreamConsumer::TakeSubscription() {
  {
    std::lock_guard lock(subs_mu_);
    if (!idle_subs_.empty()) {
      natsSubscription* sub = idle_subs_.back();
      idle_subs_.pop_back();
      return sub;
    }
  }
  // One pull subscription per concurrent Fetch (a subscription serves one
  // fetch at a time), bound to the durable.
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = topic_->stream().c_str();
  so.Consumer = spec_.durable.c_str();
  so.ManualAck = true;
  natsSubscription* sub = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_PullSubscribe(&sub, ctx_->js, spec_.filter_subject.c_str(),
                                  spec_.durable.c_str(), &ctx_->api_options, &so, &jerr);
  if (s != NATS_OK)
    return NatsError(s, jerr,
                     "cannot pull from consumer " + topic_->stream() + "/" + spec_.durable);
  natsSubscription_SetPendingLimits(sub, -1, -1);
  std::lock_guard lock(subs_mu_);
  all_subs_.push_back(sub);
  return sub;
}

void JetStreamConsumer::ReturnSubscription(natsSubscription* sub) {
  std::lock_guard lock(subs_mu_);
  idle_subs_.push_back(sub);
}

Result<std::vector<Delivery>> JetStreamConsumer::Fetch(const FetchOptions& options) {
  const size_t max = std::clamp<size_t>(options.max_messages, 1, kMaxFetch);
  const int64_t max_bytes = static_cast<int64_t>(options.max_bytes);
  const auto deadline = std::chrono::steady_clock::now() + options.wait;
  auto taken = TakeSubscription();
  if (!taken.ok()) return taken.status();
  natsSubscription* sub = taken.value();
  std::vector<Delivery> out;
  const std::string what = topic_->stream() + "/" + spec_.durable;
  Status error;
  while (error.ok()) {
    std::vector<natsMsg*> msgs;
    const int want = static_cast<int>(max - out.size());
    // What is there now; when nothing, wait for one message (a long poll
    // returns as soon as something arrives, as SQS does), then take the rest.
    // Long poll: no-wait requests until something is there or the wait is over.
    for (Millis pause(2);;) {
      auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
      error = PullBatch(sub, want, max_bytes, left, what, &msgs);
      left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
      if (!error.ok() || !msgs.empty() || left.count() <= 0) break;
      std::this_thread::sleep_for(std::min(pause, left));
      pause = std::min(pause * 2, Millis(50));
    }
    std::vector<std::string> skipped;  // ack subjects of filtered-out messages
    for (natsMsg* m : msgs) {
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
        natsMsg_Destroy(m);
        continue;
      }
      const uint64_t seq = meta->Sequence.Stream;
      const uint32_t attempt = static_cast<uint32_t>(meta->NumDelivered);
      jsMsgMetaData_Destroy(meta);
      Message msg = MessageFromNats(m, seq);
      const char* reply = natsMsg_GetReply(m);
      std::string ack_subject = reply == nullptr ? "" : reply;
      natsMsg_Destroy(m);
      TopicFilters* filters = topic_->filters();
      if (filtered_ && filters != nullptr && !filters->Matches(filter_index_, msg)) {
        skipped.push_back(std::move(ack_subject));
        continue;
      }
      {
        std::lock_guard lock(mu_);
        in_flight_[seq] = InFlight{std::move(ack_subject), attempt, msg.arrival_us};
        ++delivered_;
      }
      out.push_back(Delivery{std::move(msg), Receipt{seq, attempt}});
    }
    for (const std::string& subject : skipped) {
      natsConnection_PublishString(ctx_->nc, subject.c_str(), kAck);
    }
    if (!skipped.empty()) {
      std::lock_guard lock(mu_);
      filtered_out_ += skipped.size();
    }
    if (!out.empty() || msgs.empty() || std::chrono::steady_clock::now() >= deadline) break;
  }
  ReturnSubscription(sub);
  if (!error.ok() && out.empty()) return error;
  return out;
}

Status JetStreamConsumer::Ack(std::span<const Receipt> receipts) {
  std::vector<std::string> subjects;
  subjects.reserve(receipts.size());
  {
    std::lock_guard lock(mu_);
    for (const Receipt& r : receipts) {
      auto it = in_flight_.find(r.seq);
      if (it == in_flight_.end() || it->second.attempt != r.attempt) {
        ++stale_;
        continue;
      }
      subjects.push_back(std::move(it->second.ack_subject));
      in_flight_.erase(it);
      ++acked_;
    }
  }
  for (const std::string& subject : subjects) {
    natsStatus s = natsConnection_PublishString(ctx_->nc, subject.c_str(), kAck);
    if (s != NATS_OK) return NatsError(s, 0, "cannot acknowledge on " + spec_.name);
  }
  return Status::Ok();
}

Status JetStreamConsumer::Nack(std::span<const Receipt> receipts, Millis delay) {
  std::vector<std::string> subjects;
  {
    std::lock_guard lock(mu_);
    for (const Receipt& r : receipts) {
      auto it = in_flight_.find(r.seq);
      if (it == in_flight_.end() || it->second.attempt != r.attempt) {
        ++stale_;
        continue;
      }
      subjects.push_back(std::move(it->second.ack_subject));
      in_flight_.erase(it);
    }
  }
  const std::string payload = NakPayload(delay);
  for (const std::string& subject : subjects) {
    natsStatus s = natsConnection_PublishString(ctx_->nc, subject.c_str(), payload.c_str());
    if (s != NATS_OK) return NatsError(s, 0, "cannot nack on " + spec_.name);
  }
  return Status::Ok();
}

SubscriptionStats JetStreamConsumer::Stats() const {
  SubscriptionStats st;
  const int64_t now = NowMicros();
  bool refresh;
  {
    std::lock_guard lock(mu_);
    refresh = now - info_at_us_ > 1'000'000;
  }
  if (refresh) {
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetConsumerInfo(&ci, ctx_->js, topic_->stream().c_str(),
                                      spec_.durable.c_str(), &ctx_->api_options, &jerr);
    std::lock_guard lock(mu_);
    if (s == NATS_OK) {
      info_pending_ = ci->NumPending;
      info_ack_pending_ = static_cast<uint64_t>(std::max<int64_t>(ci->NumAckPending, 0));
      info_at_us_ = now;
    }
    jsConsumerInfo_Destroy(ci);
  }
  std::lock_guard lock(mu_);
  st.backlog = info_pending_ + info_ack_pending_;
  st.in_flight = info_ack_pending_;
  st.delivered = delivered_;
  st.acked = acked_;
  st.dead_lettered = dead_lettered_;
  int64_t oldest = 0;
  for (const auto& [seq, f] : in_flight_) {
    if (f.arrival_us > 0 && (oldest == 0 || f.arrival_us < oldest)) oldest = f.arrival_us;
  }
  if (oldest > 0) st.oldest_unacked_age_s = static_cast<double>(now - oldest) / 1e6;
  return st;
}

uint64_t JetStreamConsumer::stale_receipts() const {
  std::lock_guard lock(mu_);
  return stale_;
}

void JetStreamConsumer::OnAdvisory(natsConnection*, natsSubscription*, natsMsg* msg,
                                   void* closure) {
  auto* self = static_cast<JetStreamConsumer*>(closure);
  const char* data = natsMsg_GetData(msg);
  std::string_view text(data == nullptr ? "" : data,
                        static_cast<size_t>(natsMsg_GetDataLength(msg)));
  size_t at = text.find("\"stream_seq\":");
  uint64_t seq = 0;
  if (at != std::string_view::npos) {
    at += 13;
    std::from_chars(text.data() + at, text.data() + text.size(), seq);
  }
  natsMsg_Destroy(msg);
  if (seq == 0) return;
  {
    std::lock_guard lock(self->dl_mu_);
    self->dl_queue_.push_back(seq);
  }
  self->dl_cv_.notify_all();
}

void JetStreamConsumer::DeadLetterLoop() {
  std::unique_lock lock(dl_mu_);
  while (!dl_stop_) {
    if (dl_queue_.empty()) {
      dl_cv_.wait(lock);
      continue;
    }
    const uint64_t seq = dl_queue_.front();
    dl_queue_.pop_front();
    lock.unlock();
    DeadLetter(seq);
    lock.lock();
  }
}

void JetStreamConsumer::DeadLetter(uint64_t stream_seq) {
  const std::string& stream = topic_->stream();
  natsMsg* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetMsg(&raw, ctx_->js, stream.c_str(), stream_seq, &ctx_->api_options, &jerr);
  if (s != NATS_OK) {
    Status st = NatsError(s, jerr, "cannot read message " + std::to_string(stream_seq));
    spdlog::error("JetStream: subscription {}: dead letter: {}", spec_.name, st.message());
    return;
  }
  Message msg = MessageFromNats(raw, stream_seq);
  natsMsg_Destroy(raw);
  // Every process sharing the durable hears the advisory; the id makes the
  // copies one message in the dead-letter topic.
  std::string dedup = "dl-" + stream + "-" + spec_.durable + "-" + std::to_string(stream_seq);
  std::promise<Result<SeqRange>> promise;
  auto future = promise.get_future();
  std::vector<Message> one;
  one.push_back(std::move(msg));
  std::vector<std::string> ids;
  ids.push_back(std::move(dedup));
  dead_letter_->Republish(std::move(one), std::move(ids),
                          [&promise](Result<SeqRange> r) { promise.set_value(std::move(r)); });
  Result<SeqRange> r = future.get();
  if (!r.ok()) {
    spdlog::error("JetStream: subscription {}: cannot dead-letter message {} to {}: {}", spec_.name,
                  stream_seq, dead_letter_->name(), r.status().message());
    return;
  }
  // Settle the last delivery so the consumer's ack floor moves past it.
  std::string subject;
  {
    std::lock_guard lock(mu_);
    auto it = in_flight_.find(stream_seq);
    if (it != in_flight_.end()) {
      subject = std::move(it->second.ack_subject);
      in_flight_.erase(it);
    }
    ++dead_lettered_;
  }
  if (!subject.empty()) natsConnection_PublishString(ctx_->nc, subject.c_str(), kAck);
}

}  // namespace inlet::bus::js
