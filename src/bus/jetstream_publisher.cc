#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <random>

#include "bus/jetstream_internal.h"
#include "common/clock.h"
#include "common/thread_name.h"

namespace inlet::bus::js {

namespace {

// Fields of a JetStream publish acknowledgment:
// {"stream":"S","seq":12,"duplicate":true} or
// {"error":{"code":503,"err_code":10077,"description":"..."}}.
struct PubAckReply {
  bool error = false;
  bool duplicate = false;
  uint64_t seq = 0;
  int code = 0;
  int err_code = 0;
  std::string description;
};

bool NumberAfter(std::string_view text, std::string_view key, uint64_t* out) {
  size_t at = text.find(key);
  if (at == std::string_view::npos) return false;
  at += key.size();
  while (at < text.size() && text[at] == ' ') ++at;
  auto r = std::from_chars(text.data() + at, text.data() + text.size(), *out);
  return r.ec == std::errc();
}

PubAckReply ParsePubAck(std::string_view text) {
  PubAckReply r;
  if (text.find("\"error\"") != std::string_view::npos) {
    r.error = true;
    uint64_t v = 0;
    if (NumberAfter(text, "\"code\":", &v)) r.code = static_cast<int>(v);
    if (NumberAfter(text, "\"err_code\":", &v)) r.err_code = static_cast<int>(v);
    size_t at = text.find("\"description\":\"");
    if (at != std::string_view::npos) {
      at += 15;
      size_t end = text.find('"', at);
      r.description = std::string(text.substr(at, end == std::string_view::npos ? 200 : end - at));
    } else {
      r.description = std::string(text.substr(0, 200));
    }
    return r;
  }
  r.duplicate = text.find("\"duplicate\":true") != std::string_view::npos;
  if (!NumberAfter(text, "\"seq\":", &r.seq) || r.seq == 0) {
    // 2.9 can answer "duplicate" without a sequence for a message id staged
    // by a leader that lost its leadership before storing it (fixed in 2.11,
    // nats-server#6415): the id is blocked for the duplicate window.
    r.error = true;
    r.description =
        "publish acknowledged without a sequence (message id blocked by the "
        "server's duplicate window after a leader change?): " +
        std::string(text.substr(0, 200));
  }
  return r;
}

int64_t BackoffMicros(int attempt) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  const int64_t base = std::min<int64_t>(25'000ll << std::min(attempt, 7), 2'000'000);
  return base / 2 + static_cast<int64_t>(rng() % static_cast<uint32_t>(base / 2 + 1));
}

}  // namespace

Result<std::unique_ptr<JsPublisher>> JsPublisher::Start(JsContext* ctx) {
  std::unique_ptr<JsPublisher> p(new JsPublisher(ctx));
  std::random_device rd;
  char buf[48];
  snprintf(buf, sizeof(buf), "_INBOX.inletpub%08x%08x.", rd(), rd());
  p->inbox_ = buf;
  natsStatus s = natsConnection_Subscribe(&p->sub_, ctx->nc, (p->inbox_ + "*").c_str(),
                                          &JsPublisher::OnReply, p.get());
  if (s != NATS_OK) return NatsError(s, 0, "cannot subscribe to publish acknowledgments");
  natsSubscription_SetPendingLimits(p->sub_, -1, -1);
  p->thread_ = std::thread([raw = p.get()] {
    SetThreadName("js-publish");
    raw->Loop();
  });
  return p;
}

JsPublisher::~JsPublisher() { Close(); }

void JsPublisher::Close() {
  {
    std::unique_lock lock(mu_);
    if (closed_) return;
    closed_ = true;
    // Everything still pending fails; late replies find nothing.
    std::vector<std::shared_ptr<Batch>> batches;
    for (auto& [token, a] : in_flight_) batches.push_back(a.batch);
    for (auto& [at, a] : retry_at_) batches.push_back(a.batch);
    in_flight_.clear();
    retry_at_.clear();
    deadlines_.clear();
    pending_events_ = 0;
    for (auto& b : batches) Fail(b, Status::Unavailable("JetStream bus is closing"));
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  DrainAndDestroy(sub_);
  sub_ = nullptr;
  std::unique_lock lock(mu_);
  RunCompletions(lock);
}

void JsPublisher::Publish(std::vector<PubItem> items, Done done) {
  auto batch = std::make_shared<Batch>();
  batch->items = std::move(items);
  batch->remaining = batch->items.size();
  batch->done = std::move(done);
  {
    std::lock_guard lock(mu_);
    if (closed_) {
      completions_.push_back(
          [d = std::move(batch->done)] { d(Status::Unavailable("JetStream bus is closed")); });
      batch->finished = true;
    } else if (batch->items.empty()) {
      completions_.push_back([d = std::move(batch->done)] { d(SeqRange{}); });
      batch->finished = true;
    } else if (pending_events_ + batch->items.size() > ctx_->config.max_pending_events) {
      completions_.push_back([d = std::move(batch->done), n = pending_events_] {
        d(Status::ResourceExhausted("JetStream publish queue is full (" + std::to_string(n) +
                                    " events awaiting acknowledgment); retry later"));
      });
      batch->finished = true;
    } else {
      pending_events_ += batch->items.size();
    }
  }
  if (batch->finished) {
    std::unique_lock lock(mu_);
    if (closed_) {
      RunCompletions(lock);
      return;
    }
    lock.unlock();
    cv_.notify_all();
    return;
  }
  const int64_t now = NowMicros();
  for (size_t i = 0; i < batch->items.size(); ++i) Send(Attempt{batch, i, 0, now});
}

void JsPublisher::Reject(Done done, Status error) {
  std::unique_lock lock(mu_);
  completions_.push_back([d = std::move(done), e = std::move(error)] { d(e); });
  if (closed_) {  // no thread any more
    RunCompletions(lock);
    return;
  }
  lock.unlock();
  cv_.notify_all();
}

void JsPublisher::Send(Attempt a) {
  const PubItem& item = a.batch->items[a.index];
  uint64_t token;
  {
    std::lock_guard lock(mu_);
    if (closed_) {  // pending_events_ was reset by Close
      Fail(a.batch, Status::Unavailable("JetStream bus is closing"));
      return;
    }
    if (a.batch->finished) {  // an earlier event of the batch failed for good
      --pending_events_;
      return;
    }
    token = next_token_++;
    in_flight_.emplace(token, a);
    deadlines_.emplace_back(NowMicros() + ctx_->config.publish_timeout.count() * 1000, token);
  }
  const std::string reply = inbox_ + std::to_string(token);
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, item.subject.c_str(), reply.c_str(), item.payload.data(),
                                static_cast<int>(item.payload.size()));
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, kHeaderMsgId, item.msg_id.c_str());
  if (s == NATS_OK) {
    s = natsMsgHeader_Set(msg, kHeaderArrival, std::to_string(item.arrival_us).c_str());
  }
  if (s == NATS_OK && !item.key_id.empty())
    s = natsMsgHeader_Set(msg, kHeaderKeyId, EscapeHeader(item.key_id).c_str());
  if (s == NATS_OK && !item.attributes.empty())
    s = natsMsgHeader_Set(msg, kHeaderAttributes, EscapeHeader(item.attributes).c_str());
  if (s == NATS_OK) s = natsConnection_PublishMsg(ctx_->nc, msg);
  natsMsg_Destroy(msg);
  if (s == NATS_OK) return;
  Status error = NatsError(s, 0, "cannot publish to " + item.subject);
  std::lock_guard lock(mu_);
  auto it = in_flight_.find(token);
  if (it == in_flight_.end()) return;  // answered already
  in_flight_.erase(it);
  const bool retryable = s != NATS_CONNECTION_CLOSED && s != NATS_INVALID_ARG &&
                         s != NATS_MAX_PAYLOAD && s != NATS_INVALID_SUBJECT;
  RetryOrFail(std::move(a), std::move(error), retryable);
  cv_.notify_all();
}

void JsPublisher::OnReply(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<JsPublisher*>(closure)->HandleReply(msg);
  natsMsg_Destroy(msg);
}

void JsPublisher::HandleReply(natsMsg* msg) {
  std::string_view subject = natsMsg_GetSubject(msg);
  if (subject.size() <= inbox_.size()) return;
  uint64_t token = 0;
  std::string_view tail = subject.substr(inbox_.size());
  if (std::from_chars(tail.data(), tail.data() + tail.size(), token).ec != std::errc()) return;
  const bool no_responders = natsMsg_IsNoResponders(msg);
  PubAckReply reply;
  if (!no_responders) {
    const char* data = natsMsg_GetData(msg);
    reply = ParsePubAck(std::string_view(data == nullptr ? "" : data,
                                         static_cast<size_t>(natsMsg_GetDataLength(msg))));
  }
  std::unique_lock lock(mu_);
  auto it = in_flight_.find(token);
  if (it == in_flight_.end()) return;  // timed out and retried, or closing
  Attempt a = std::move(it->second);
  in_flight_.erase(it);
  const std::string& subj = a.batch->items[a.index].subject;
  if (no_responders) {
    RetryOrFail(std::move(a),
                Status::Unavailable("no responders for " + subj +
                                    ": the stream has no leader (election in progress?)"),
                true);
  } else if (reply.error) {
    const std::string what = "JetStream rejected the publish to " + subj + ": " +
                             reply.description + " (code " + std::to_string(reply.code) +
                             ", error " + std::to_string(reply.err_code) + ")";
    if (reply.err_code == JSStreamStoreFailedErr || reply.err_code == JSInsufficientResourcesErr ||
        reply.description.find("maximum") != std::string::npos) {
      RetryOrFail(std::move(a), Status::ResourceExhausted(what), false);
    } else {
      RetryOrFail(std::move(a), Status::Unavailable(what), reply.code == 503);
    }
  } else if (reply.duplicate && !a.batch->finished && !closed_) {
    // Checked on the publisher's thread before it counts (see VerifyDuplicate).
    a.stored_seq = reply.seq;
    verify_.push_back(std::move(a));
    cv_.notify_all();
  } else {
    Complete(std::move(a), reply.seq);
  }
  RunCompletions(lock);
}

void JsPublisher::Complete(Attempt a, uint64_t seq) {
  --pending_events_;
  Batch& b = *a.batch;
  if (b.finished) return;
  b.first = std::min(b.first, seq);
  b.last = std::max(b.last, seq);
  if (--b.remaining == 0) {
    b.finished = true;
    completions_.push_back([d = std::move(b.done), r = SeqRange{b.first, b.last}] { d(r); });
  }
}

bool JsPublisher::VerifyDuplicate(const Attempt& a) {
  // nats-server 2.9 can answer "duplicate" for an id whose first publish a
  // leader staged but never stored (nats-server#6415): the message at the
  // sequence it names must carry the same Nats-Msg-Id.
  const PubItem& item = a.batch->items[a.index];
  natsMsg* stored = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s =
      js_GetMsg(&stored, ctx_->js, item.stream.c_str(), a.stored_seq, &ctx_->api_options, &jerr);
  if (s != NATS_OK) {
    // Cannot check now (an election): trust the server, as before this check.
    if (s != NATS_NOT_FOUND && jerr != JSNoMessageFoundErr) return true;
    spdlog::warn(
        "JetStream publish: {} acknowledged as a duplicate of sequence {}, which the "
        "stream does not hold; publishing it again",
        item.subject, a.stored_seq);
    return false;
  }
  const char* id = nullptr;
  const bool same =
      natsMsgHeader_Get(stored, kHeaderMsgId, &id) == NATS_OK && id != nullptr && item.msg_id == id;
  natsMsg_Destroy(stored);
  if (!same) {
    spdlog::warn(
        "JetStream publish: {} acknowledged as a duplicate of sequence {}, which holds "
        "another message; publishing it again",
        item.subject, a.stored_seq);
  }
  return same;
}

void JsPublisher::RetryOrFail(Attempt a, Status error, bool retryable) {
  if (a.batch->finished || closed_) {
    --pending_events_;
    return;
  }
  // The retry budget is time: what publish_retries attempts that time out
  // would take. "No responders" fails fast, and a leader election in 2.9
  // takes 4-10 s (Raft election timeouts), longer if the meta leader died too.
  const int64_t budget_us = ctx_->config.publish_timeout.count() * 1000 *
                            (static_cast<int64_t>(ctx_->config.publish_retries) + 1);
  if (retryable && NowMicros() - a.first_us < budget_us) {
    ++a.attempt;
    retries_.fetch_add(1);
    // One line a second at most: a leader election retries every message.
    const int64_t now = NowMicros();
    ++unlogged_retries_;
    if (now - last_warning_us_ >= 1'000'000) {
      spdlog::warn(
          "JetStream publish: {}; retrying (attempt {}; {} retries since the last "
          "warning)",
          error.message(), a.attempt + 1, unlogged_retries_);
      last_warning_us_ = now;
      unlogged_retries_ = 0;
    }
    retry_at_.emplace(NowMicros() + BackoffMicros(a.attempt), std::move(a));
    return;
  }
  --pending_events_;
  if (retryable) {
    error = Status(error.code(), error.message() + " (gave up after " +
                                     std::to_string(a.attempt + 1) + " attempts in " +
                                     std::to_string((NowMicros() - a.first_us) / 1000) + " ms)");
  }
  Fail(a.batch, std::move(error));
}

void JsPublisher::Fail(const std::shared_ptr<Batch>& batch, Status error) {
  if (batch->finished) return;
  batch->finished = true;
  completions_.push_back([d = std::move(batch->done), e = std::move(error)] { d(e); });
}

void JsPublisher::RunCompletions(std::unique_lock<std::mutex>& lock) {
  while (!completions_.empty()) {
    std::vector<std::function<void()>> run;
    run.swap(completions_);
    lock.unlock();
    for (auto& f : run) f();
    lock.lock();
  }
}

void JsPublisher::Loop() {
  std::unique_lock lock(mu_);
  while (!closed_) {
    const int64_t now = NowMicros();
    // Attempts not answered in time are retried (a new token; a late answer
    // to the old one is ignored, the server deduplicates by Nats-Msg-Id).
    while (!deadlines_.empty() && deadlines_.front().first <= now) {
      const uint64_t token = deadlines_.front().second;
      deadlines_.pop_front();
      auto it = in_flight_.find(token);
      if (it == in_flight_.end()) continue;
      Attempt a = std::move(it->second);
      in_flight_.erase(it);
      const std::string what = "publish to " + a.batch->items[a.index].subject +
                               " not acknowledged within " +
                               std::to_string(ctx_->config.publish_timeout.count()) + " ms";
      RetryOrFail(std::move(a), Status(StatusCode::kTimeout, what), true);
    }
    while (!verify_.empty()) {
      Attempt a = std::move(verify_.front());
      verify_.pop_front();
      lock.unlock();
      const bool stored = VerifyDuplicate(a);
      lock.lock();
      if (stored) {
        const uint64_t seq = a.stored_seq;
        Complete(std::move(a), seq);
      } else {
        // The id was taken by a message the server never kept: publish again
        // under a new id derived from it.
        a.batch->items[a.index].msg_id += "~" + std::to_string(a.attempt + 1);
        RetryOrFail(std::move(a),
                    Status::Unavailable("publish answered as a duplicate of a message the "
                                        "stream does not hold"),
                    true);
      }
    }
    std::vector<Attempt> due;
    while (!retry_at_.empty() && retry_at_.begin()->first <= now) {
      due.push_back(std::move(retry_at_.begin()->second));
      retry_at_.erase(retry_at_.begin());
    }
    if (!due.empty()) {
      lock.unlock();
      for (auto& a : due) Send(std::move(a));
      lock.lock();
    }
    RunCompletions(lock);
    if (closed_) break;
    int64_t wake = NowMicros() + 100'000;
    if (!deadlines_.empty()) wake = std::min(wake, deadlines_.front().first);
    if (!retry_at_.empty()) wake = std::min(wake, retry_at_.begin()->first);
    const int64_t wait_us = std::max<int64_t>(wake - NowMicros(), 1000);
    cv_.wait_for(lock, std::chrono::microseconds(wait_us));
  }
}

}  // namespace inlet::bus::js
