#include "bus/bus.h"

#include <charconv>
#include <future>

namespace inlet::bus {

Result<SeqRange> Topic::Publish(std::vector<OutgoingEvent> events) {
  std::promise<Result<SeqRange>> promise;
  auto future = promise.get_future();
  PublishAsync(std::move(events),
               [&promise](Result<SeqRange> r) { promise.set_value(std::move(r)); });
  return future.get();
}

namespace {

// Forwards to a consumer the bus owns (the embedded bus's single partition).
class BorrowedConsumer : public Consumer {
 public:
  explicit BorrowedConsumer(Consumer* target) : target_(target) {}
  const std::string& name() const override { return target_->name(); }
  Result<std::vector<Delivery>> Fetch(const FetchOptions& options) override {
    return target_->Fetch(options);
  }
  Status Ack(std::span<const Receipt> receipts) override { return target_->Ack(receipts); }
  Status Nack(std::span<const Receipt> receipts, Millis delay) override {
    return target_->Nack(receipts, delay);
  }
  SubscriptionStats Stats() const override { return target_->Stats(); }

 private:
  Consumer* target_;
};

}  // namespace

Result<std::unique_ptr<Consumer>> Bus::OpenPartition(std::string_view subscription,
                                                     uint32_t partition) {
  Consumer* c = FindSubscription(subscription);
  if (c == nullptr) return Status::NotFound("no subscription '" + std::string(subscription) + "'");
  if (partition != 0)
    return Status::InvalidArgument("subscription '" + std::string(subscription) +
                                   "' has one partition; asked for partition " +
                                   std::to_string(partition));
  return std::unique_ptr<Consumer>(new BorrowedConsumer(c));
}

// Receipt handles read "<subscription>:<seq>:<attempt>"; the subscription
// name guards against acknowledging on the wrong subscription.
std::string Receipt::Encode(std::string_view subscription) const {
  std::string out(subscription);
  out += ':';
  out += std::to_string(seq);
  out += ':';
  out += std::to_string(attempt);
  return out;
}

Result<Receipt> Receipt::Decode(std::string_view text, std::string_view subscription) {
  auto bad = [&] {
    return Status::InvalidArgument("receipt handle '" + std::string(text.substr(0, 200)) +
                                   "' is not one of subscription '" + std::string(subscription) +
                                   "'");
  };
  if (text.size() <= subscription.size() + 1 ||
      text.substr(0, subscription.size()) != subscription || text[subscription.size()] != ':') {
    return bad();
  }
  std::string_view rest = text.substr(subscription.size() + 1);
  size_t colon = rest.find(':');
  if (colon == std::string_view::npos) return bad();
  Receipt r;
  auto a = std::from_chars(rest.data(), rest.data() + colon, r.seq);
  auto b = std::from_chars(rest.data() + colon + 1, rest.data() + rest.size(), r.attempt);
  if (a.ec != std::errc() || a.ptr != rest.data() + colon || b.ec != std::errc() ||
      b.ptr != rest.data() + rest.size() || r.seq == 0 || r.attempt == 0) {
    return bad();
  }
  return r;
}

}  // namespace inlet::bus
