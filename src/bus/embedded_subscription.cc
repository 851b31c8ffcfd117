#include "bus/embedded_subscription.h"

#include <algorithm>
#include <charconv>
#include <sstream>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/file_util.h"

namespace inlet::bus {

EmbeddedSubscription::EmbeddedSubscription(SubscriptionConfig config, SegmentLog* log,
                                           Topic* dead_letter, std::filesystem::path cursor_file,
                                           TopicFilters* filters, size_t filter_index)
    : config_(std::move(config)),
      log_(log),
      dead_letter_(dead_letter),
      cursor_file_(std::move(cursor_file)),
      filters_(filters),
      filter_index_(filter_index) {}

Result<std::unique_ptr<EmbeddedSubscription>> EmbeddedSubscription::Open(
    SubscriptionConfig config, SegmentLog* log, Topic* dead_letter,
    std::filesystem::path cursor_file, TopicFilters* filters, size_t filter_index) {
  std::unique_ptr<EmbeddedSubscription> sub(new EmbeddedSubscription(
      std::move(config), log, dead_letter, std::move(cursor_file), filters, filter_index));
  INLET_RETURN_IF_ERROR(sub->LoadCursor());
  return sub;
}

// Cursor file: text lines "inlet-cursor 1", "floor N", "done A B"..., then
// "crc X" over the preceding bytes. A new subscription starts at the oldest
// retained message, so nothing retained is missed.
Status EmbeddedSubscription::LoadCursor() {
  auto content = ReadWholeFile(cursor_file_);
  if (!content.ok()) {
    if (content.status().code() != StatusCode::kNotFound) return content.status();
    floor_ = next_ = log_->first_seq();
    return Status::Ok();
  }
  const std::string& text = content.value();
  size_t crc_pos = text.rfind("crc ");
  if (crc_pos == std::string::npos ||
      std::to_string(Crc32c(text.data(), crc_pos)) !=
          text.substr(crc_pos + 4, text.find('\n', crc_pos) - crc_pos - 4)) {
    return Status::Corruption("cursor file " + cursor_file_.string() +
                              " fails its checksum; remove it to restart the subscription from the "
                              "oldest retained message");
  }
  std::istringstream in(text.substr(0, crc_pos));
  std::string word;
  in >> word;
  int version = 0;
  in >> version;
  if (word != "inlet-cursor" || version != 1) {
    return Status::Corruption("cursor file " + cursor_file_.string() + " has an unknown format");
  }
  while (in >> word) {
    if (word == "floor") {
      in >> floor_;
    } else if (word == "done") {
      uint64_t a = 0, b = 0;
      in >> a >> b;
      pre_done_.emplace_back(a, b);
    }
  }
  floor_ = std::max(floor_, log_->first_seq());
  next_ = floor_;
  return Status::Ok();
}

Status EmbeddedSubscription::PersistCursor() {
  std::string text;
  {
    std::lock_guard lock(mu_);
    if (!dirty_) return Status::Ok();
    dirty_ = false;
    text = "inlet-cursor 1\nfloor " + std::to_string(floor_) + "\n";
    uint64_t seq = floor_;
    uint64_t run_start = 0;
    bool in_run = false;
    for (const Slot& s : window_) {
      if (s.state == SlotState::kDone) {
        if (!in_run) run_start = seq;
        in_run = true;
      } else if (in_run) {
        text += "done " + std::to_string(run_start) + " " + std::to_string(seq - 1) + "\n";
        in_run = false;
      }
      ++seq;
    }
    if (in_run) text += "done " + std::to_string(run_start) + " " + std::to_string(seq - 1) + "\n";
    for (const auto& [a, b] : pre_done_) {
      if (b >= next_) {
        text += "done " + std::to_string(std::max(a, next_)) + " " + std::to_string(b) + "\n";
      }
    }
  }
  text += "crc " + std::to_string(Crc32c(text.data(), text.size())) + "\n";
  Status st = AtomicWriteFile(cursor_file_, text);
  if (!st.ok()) {
    std::lock_guard lock(mu_);
    dirty_ = true;
  }
  return st;
}

EmbeddedSubscription::Slot* EmbeddedSubscription::SlotFor(uint64_t seq) {
  if (seq < floor_ || seq >= next_) return nullptr;
  return &window_[seq - floor_];
}

void EmbeddedSubscription::AdvanceFloor() {
  while (!window_.empty() && window_.front().state == SlotState::kDone) {
    window_.pop_front();
    ++floor_;
    dirty_ = true;
  }
}

bool EmbeddedSubscription::PreDone(uint64_t seq) {
  while (!pre_done_.empty() && pre_done_.front().second < seq) pre_done_.erase(pre_done_.begin());
  return !pre_done_.empty() && pre_done_.front().first <= seq;
}

Status EmbeddedSubscription::Collect(const FetchOptions& options, int64_t now_us, Millis visibility,
                                     std::vector<Delivery>* out,
                                     std::vector<Message>* to_dead_letter) {
  const int64_t vis_us = visibility.count() * 1000;
  size_t bytes = 0;
  // 1. Messages whose visibility timeout or nack delay has run out.
  while (out->size() < options.max_messages && bytes < options.max_bytes && !timers_.empty() &&
         timers_.top().at_us <= now_us) {
    Timer t = timers_.top();
    timers_.pop();
    for (uint64_t seq = std::max(t.seq, floor_); seq <= t.last; ++seq) {
      if (out->size() >= options.max_messages || bytes >= options.max_bytes) {
        timers_.push(Timer{t.at_us, seq, t.last, t.attempt});  // the rest, at the next fetch
        break;
      }
      Slot* slot = SlotFor(seq);
      if (slot == nullptr || slot->state != SlotState::kInFlight || slot->attempt != t.attempt ||
          slot->visible_at_us > now_us) {
        continue;  // acknowledged, or its visibility was changed since
      }
      std::vector<Message> one;
      INLET_RETURN_IF_ERROR(log_->Read(seq, 1, 1, &one, nullptr));
      if (one.empty() || one.front().seq != seq) {  // cannot happen while unacked data is kept
        slot->state = SlotState::kDone;
        --in_flight_;
        continue;
      }
      if (config_.max_receive_count > 0 && slot->attempt >= config_.max_receive_count &&
          dead_letter_ != nullptr) {
        slot->state = SlotState::kDeadLettering;
        to_dead_letter->push_back(std::move(one.front()));
        continue;
      }
      slot->attempt++;
      slot->visible_at_us = now_us + vis_us;
      timers_.push(Timer{slot->visible_at_us, seq, seq, slot->attempt});
      bytes += one.front().payload.size();
      out->push_back(Delivery{std::move(one.front()), Receipt{seq, slot->attempt}});
      ++delivered_;
    }
  }
  // 2. New messages from the log.
  if (out->size() < options.max_messages && bytes < options.max_bytes &&
      window_.size() < config_.max_unacked && next_ <= log_->last_durable_seq()) {
    size_t want =
        std::min(options.max_messages - out->size(), config_.max_unacked - window_.size());
    std::vector<Message> msgs;
    uint64_t first_new = UINT64_MAX, last_new = 0;  // the new messages delivered: one timer
    out->reserve(out->size() +
                 std::min<uint64_t>({want, log_->last_durable_seq() - next_ + 1, 16384}));
    INLET_RETURN_IF_ERROR(log_->Read(
        next_, want, options.max_bytes - std::min(bytes, options.max_bytes), &msgs, &hint_));
    for (Message& msg : msgs) {
      if (msg.seq != next_) {
        if (window_.empty()) {
          floor_ = next_ = msg.seq;  // older segments are gone (retention): start here
        } else {
          while (next_ < msg.seq) {
            window_.push_back(Slot{0, 0, 0, SlotState::kDone});
            ++next_;
          }
        }
      }
      Slot slot;
      slot.arrival_us = msg.arrival_us;
      if (PreDone(msg.seq) || (filters_ && !filters_->Matches(filter_index_, msg))) {
        slot.state = SlotState::kDone;
        window_.push_back(slot);
        ++next_;
        continue;
      }
      slot.state = SlotState::kInFlight;
      slot.attempt = 1;
      slot.visible_at_us = now_us + vis_us;
      window_.push_back(slot);
      ++next_;
      first_new = std::min(first_new, msg.seq);
      last_new = msg.seq;
      ++in_flight_;
      ++delivered_;
      const uint64_t seq = msg.seq;
      out->push_back(Delivery{std::move(msg), Receipt{seq, 1}});
    }
    if (last_new != 0) timers_.push(Timer{now_us + vis_us, first_new, last_new, 1});
    AdvanceFloor();
  }
  return Status::Ok();
}

void EmbeddedSubscription::DeadLetter(std::vector<Message> messages) {
  std::vector<OutgoingEvent> events;
  events.reserve(messages.size());
  for (auto& m : messages) {
    events.push_back(OutgoingEvent{m.payload, m.attributes, m.key_id, {}});
  }
  Result<SeqRange> published = dead_letter_->Publish(std::move(events));
  std::lock_guard lock(mu_);
  const int64_t now_us = NowMicros();
  for (auto& m : messages) {
    Slot* slot = SlotFor(m.seq);
    if (slot == nullptr || slot->state != SlotState::kDeadLettering) continue;
    if (published.ok()) {
      slot->state = SlotState::kDone;
      --in_flight_;
      ++dead_lettered_;
    } else {  // retried at the next fetch after a second
      slot->state = SlotState::kInFlight;
      slot->visible_at_us = now_us + 1'000'000;
      timers_.push(Timer{slot->visible_at_us, m.seq, m.seq, slot->attempt});
    }
  }
  AdvanceFloor();
}

Result<std::vector<Delivery>> EmbeddedSubscription::Fetch(const FetchOptions& options) {
  const Millis visibility = options.visibility_timeout.count() >= 0 ? options.visibility_timeout
                                                                    : config_.visibility_timeout;
  const auto deadline = std::chrono::steady_clock::now() + options.wait;
  std::vector<Delivery> out;
  for (;;) {
    std::vector<Message> to_dead_letter;
    uint64_t wait_for_seq;
    int64_t next_timer_us = INT64_MAX;
    const int64_t now_us = NowMicros();
    {
      std::lock_guard lock(mu_);
      INLET_RETURN_IF_ERROR(Collect(options, now_us, visibility, &out, &to_dead_letter));
      wait_for_seq = next_;
      if (!timers_.empty()) next_timer_us = timers_.top().at_us;
    }
    if (!to_dead_letter.empty()) {
      DeadLetter(std::move(to_dead_letter));
      continue;
    }
    if (!out.empty() || std::chrono::steady_clock::now() >= deadline || log_->Woken()) return out;
    auto wake = deadline;
    if (next_timer_us != INT64_MAX) {
      auto timer_wake =
          std::chrono::steady_clock::now() +
          std::chrono::microseconds(std::max<int64_t>(next_timer_us - now_us, 0) + 1000);
      wake = std::min(wake, timer_wake);
    }
    log_->WaitFor(wait_for_seq, wake);
  }
}

Status EmbeddedSubscription::Ack(std::span<const Receipt> receipts) {
  std::lock_guard lock(mu_);
  for (const Receipt& r : receipts) {
    Slot* slot = SlotFor(r.seq);
    if (slot == nullptr || slot->state != SlotState::kInFlight || slot->attempt != r.attempt) {
      ++stale_receipts_;
      continue;
    }
    slot->state = SlotState::kDone;
    --in_flight_;
    ++acked_;
    dirty_ = true;
  }
  AdvanceFloor();
  return Status::Ok();
}

Status EmbeddedSubscription::Nack(std::span<const Receipt> receipts, Millis delay) {
  std::lock_guard lock(mu_);
  const int64_t at = NowMicros() + delay.count() * 1000;
  for (const Receipt& r : receipts) {
    Slot* slot = SlotFor(r.seq);
    if (slot == nullptr || slot->state != SlotState::kInFlight || slot->attempt != r.attempt) {
      ++stale_receipts_;
      continue;
    }
    slot->visible_at_us = at;
    timers_.push(Timer{at, r.seq, r.seq, r.attempt});
  }
  return Status::Ok();
}

uint64_t EmbeddedSubscription::AckFloor() const {
  std::lock_guard lock(mu_);
  return floor_;
}

SubscriptionStats EmbeddedSubscription::Stats() const {
  SubscriptionStats st;
  int64_t oldest_arrival = 0;
  uint64_t unread_from = 0;
  {
    std::lock_guard lock(mu_);
    const uint64_t durable = log_->last_durable_seq();
    const uint64_t unread = durable >= next_ ? durable - next_ + 1 : 0;
    st.backlog = unread + in_flight_;
    st.in_flight = in_flight_;
    st.dead_lettered = dead_lettered_;
    st.delivered = delivered_;
    st.acked = acked_;
    if (!window_.empty()) {
      oldest_arrival = window_.front().arrival_us;
    } else if (unread > 0) {
      unread_from = next_;
    }
  }
  if (unread_from != 0) {
    std::vector<Message> one;
    if (log_->Read(unread_from, 1, 1, &one, nullptr).ok() && !one.empty()) {
      oldest_arrival = one.front().arrival_us;
    }
  }
  if (oldest_arrival != 0) {
    st.oldest_unacked_age_s = std::max<double>(0, (NowMicros() - oldest_arrival) / 1e6);
  }
  return st;
}

}  // namespace inlet::bus
