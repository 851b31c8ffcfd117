#include <spdlog/spdlog.h>

#include "bus/jetstream_internal.h"
#include "common/clock.h"

namespace inlet::bus::js {

namespace {

void KeepMax(std::atomic<uint64_t>* target, uint64_t v) {
  uint64_t cur = target->load();
  while (v > cur && !target->compare_exchange_weak(cur, v)) {
  }
}

}  // namespace

JetStreamTopic::JetStreamTopic(JsContext* ctx, JsPublisher* publisher, TopicConfig config,
                               std::string stream, std::string subject_prefix, uint32_t partitions)
    : ctx_(ctx),
      publisher_(publisher),
      config_(std::move(config)),
      stream_(std::move(stream)),
      subject_prefix_(std::move(subject_prefix)),
      partitions_(partitions) {}

void JetStreamTopic::PublishAsync(std::vector<OutgoingEvent> events, PublishDone done) {
  const int64_t now = NowMicros();
  std::vector<PubItem> items;
  items.reserve(events.size());
  for (OutgoingEvent& e : events) {
    if (e.partition >= partitions_) {
      publisher_->Reject(
          std::move(done),
          Status::InvalidArgument("topic " + config_.name + " has " + std::to_string(partitions_) +
                                  " partitions; got partition " + std::to_string(e.partition)));
      return;
    }
    PubItem item;
    item.stream = stream_;
    item.subject = subject_prefix_ + std::to_string(e.partition);
    if (e.dedup_id.empty()) {
      item.msg_id = ctx_->msg_id_prefix + std::to_string(ctx_->msg_id_counter.fetch_add(1));
    } else {
      item.msg_id = std::move(e.dedup_id);
    }
    item.payload = std::move(e.payload);
    item.key_id = std::move(e.key_id);
    item.attributes = std::move(e.attributes);
    item.arrival_us = now;
    items.push_back(std::move(item));
  }
  Send(std::move(items), std::move(done));
}

void JetStreamTopic::Republish(std::vector<Message> messages, std::vector<std::string> dedup_ids,
                               PublishDone done) {
  std::vector<PubItem> items;
  items.reserve(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    PubItem item;
    item.stream = stream_;
    item.subject = subject_prefix_ + "0";
    item.msg_id = std::move(dedup_ids[i]);
    item.payload = std::move(messages[i].payload);
    item.key_id = std::move(messages[i].key_id);
    item.attributes = std::move(messages[i].attributes);
    item.arrival_us = messages[i].arrival_us;
    items.push_back(std::move(item));
  }
  Send(std::move(items), std::move(done));
}

void JetStreamTopic::Send(std::vector<PubItem> items, PublishDone done) {
  publisher_->Publish(std::move(items), [this, done = std::move(done)](Result<SeqRange> r) {
    if (r.ok()) KeepMax(&last_seq_, r->last);
    done(std::move(r));
  });
}

Status JetStreamTopic::EnsureStream() {
  const JetStreamConfig& c = ctx_->config;
  const std::string subjects_text = subject_prefix_ + "*";
  const char* subjects[] = {subjects_text.c_str()};
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = stream_.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Retention = js_LimitsPolicy;
  // A full stream refuses new messages (kResourceExhausted to the producer)
  // rather than dropping unconsumed old ones.
  cfg.Discard = js_DiscardNew;
  cfg.Replicas = c.replicas;
  const std::chrono::seconds max_age = c.max_age.count() > 0 ? c.max_age : config_.retention;
  cfg.MaxAge = static_cast<int64_t>(max_age.count()) * 1000 * kNanosPerMilli;
  cfg.MaxBytes = c.max_bytes;
  cfg.Duplicates =
      static_cast<int64_t>(std::chrono::duration_cast<Millis>(c.duplicate_window).count()) *
      kNanosPerMilli;
  cfg.AllowDirect = true;

  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, ctx_->js, stream_.c_str(), &ctx_->api_options, &jerr);
  if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
    jerr = static_cast<jsErrCode>(0);
    s = js_AddStream(&si, ctx_->js, &cfg, &ctx_->api_options, &jerr);
    if (s != NATS_OK) return NatsError(s, jerr, "cannot create stream " + stream_);
    spdlog::info("JetStream: created stream {} (subjects {}, R{})", stream_, subjects_text,
                 c.replicas);
    jsStreamInfo_Destroy(si);
    return Status::Ok();
  }
  if (s != NATS_OK) return NatsError(s, jerr, "cannot read stream " + stream_);

  // The stream exists: reconcile what can change, report what cannot.
  const jsStreamConfig& have = *si->Config;
  std::vector<std::string> diffs;
  const bool subjects_differ = have.SubjectsLen != 1 || subjects_text != have.Subjects[0];
  if (subjects_differ) diffs.push_back("subjects");
  if (have.Replicas != cfg.Replicas)
    diffs.push_back("replicas " + std::to_string(have.Replicas) + " -> " +
                    std::to_string(cfg.Replicas));
  if (have.MaxAge != cfg.MaxAge) diffs.push_back("max_age");
  if (have.MaxBytes != cfg.MaxBytes) diffs.push_back("max_bytes");
  if (have.Duplicates != cfg.Duplicates) diffs.push_back("duplicate window");
  if (have.Discard != cfg.Discard) diffs.push_back("discard policy");
  if (have.Storage != cfg.Storage) {
    spdlog::error(
        "JetStream: stream {} uses memory storage; the storage type of a stream cannot change "
        "(and inlet never deletes a stream): keeping it",
        stream_);
    cfg.Storage = have.Storage;
  }
  if (have.Retention != cfg.Retention) {
    spdlog::error(
        "JetStream: stream {} has another retention policy, which cannot change: keeping it",
        stream_);
    cfg.Retention = have.Retention;
  }
  jsStreamInfo_Destroy(si);
  if (diffs.empty()) return Status::Ok();
  std::string list;
  for (const auto& d : diffs) list += (list.empty() ? "" : ", ") + d;
  si = nullptr;
  jerr = static_cast<jsErrCode>(0);
  s = js_UpdateStream(&si, ctx_->js, &cfg, &ctx_->api_options, &jerr);
  jsStreamInfo_Destroy(si);
  if (s != NATS_OK) {
    Status st = NatsError(s, jerr, "cannot update stream " + stream_ + " (" + list + ")");
    // Publishing into a stream that does not take our subjects would lose
    // events; other differences leave a working (if differently tuned) stream.
    if (subjects_differ) return st;
    spdlog::error("JetStream: {}; the stream keeps its current settings", st.message());
    return Status::Ok();
  }
  spdlog::info("JetStream: updated stream {} ({})", stream_, list);
  return Status::Ok();
}

Status JetStreamTopic::Refresh() {
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, ctx_->js, stream_.c_str(), &ctx_->api_options, &jerr);
  if (s != NATS_OK) return NatsError(s, jerr, "cannot read stream " + stream_);
  stored_bytes_.store(si->State.Bytes);
  KeepMax(&last_seq_, si->State.LastSeq);
  jsStreamInfo_Destroy(si);
  return Status::Ok();
}

}  // namespace inlet::bus::js
