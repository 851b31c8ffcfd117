#include "cluster/partition_assigner.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <random>

namespace inlet::cluster {

PartitionAssigner::PartitionAssigner(bus::LeaseStore* leases, std::string group,
                                     uint32_t partitions, std::string worker,
                                     AssignerCallbacks callbacks)
    : leases_(leases),
      group_(std::move(group)),
      partitions_(partitions),
      worker_(std::move(worker)),
      callbacks_(std::move(callbacks)) {}

PartitionAssigner::~PartitionAssigner() { Stop(); }

std::string PartitionAssigner::MemberKey() const { return group_ + ".members." + worker_; }

std::string PartitionAssigner::OwnerKey(uint32_t partition) const {
  return group_ + ".owner." + std::to_string(partition);
}

std::set<uint32_t> PartitionAssigner::ShareOf(size_t index, size_t members, uint32_t partitions) {
  std::set<uint32_t> out;
  if (members == 0) return out;
  for (uint32_t p = 0; p < partitions; ++p) {
    if (p % members == index) out.insert(p);
  }
  return out;
}

void PartitionAssigner::Start() {
  std::lock_guard lock(run_mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  // Renewals run on a thread of their own, so that a slow start or stop of a
  // partition (a flush to S3) never lets the other leases expire.
  auto loop = [this](void (PartitionAssigner::*step)()) {
    const auto period = std::max(leases_->ttl() / 4, bus::Millis(200));
    std::unique_lock lock(run_mu_);
    while (!stop_) {
      lock.unlock();
      (this->*step)();
      lock.lock();
      run_cv_.wait_for(lock, period, [&] { return stop_; });
    }
  };
  renew_thread_ = std::thread(loop, &PartitionAssigner::Renew);
  thread_ = std::thread(loop, &PartitionAssigner::Rebalance);
}

void PartitionAssigner::Stop() {
  {
    std::lock_guard lock(run_mu_);
    stop_ = true;
  }
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (renew_thread_.joinable()) renew_thread_.join();
  std::lock_guard rebalance(tick_mu_);
  std::lock_guard renew(renew_mu_);
  std::vector<uint32_t> owned;
  {
    std::lock_guard lock(mu_);
    for (const auto& [p, rev] : owned_) owned.push_back(p);
  }
  for (uint32_t p : owned) {
    // The renewals have stopped: refresh this lease so that the final flush
    // of the partition may commit (HoldsLease).
    uint64_t rev;
    {
      std::lock_guard lock(mu_);
      rev = owned_[p];
    }
    const auto sent = std::chrono::steady_clock::now();
    auto renewed = leases_->Update(OwnerKey(p), worker_, rev);
    if (renewed.ok()) {
      std::lock_guard lock(mu_);
      owned_[p] = *renewed;
      valid_until_[p] = sent + leases_->ttl() * 3 / 4;
    } else if (renewed.status().code() == StatusCode::kAlreadyExists ||
               renewed.status().code() == StatusCode::kNotFound) {
      // Lost meanwhile: another process may own it; its lease is not ours to delete.
      {
        std::lock_guard lock(mu_);
        owned_.erase(p);
        valid_until_.erase(p);
      }
      (callbacks_.abandon ? callbacks_.abandon : callbacks_.stop)(p);
      continue;
    }
    Release(p);
  }
  if (member_revision_ != 0) {
    (void)leases_->Delete(MemberKey());
    member_revision_ = 0;
  }
}

void PartitionAssigner::Tick() {
  Renew();
  Rebalance();
}

void PartitionAssigner::Renew() {
  std::lock_guard renew(renew_mu_);
  Heartbeat();
  std::map<uint32_t, uint64_t> owned;
  {
    std::lock_guard lock(mu_);
    owned = owned_;
  }
  for (const auto& [p, rev] : owned) {
    const auto sent = std::chrono::steady_clock::now();
    auto renewed = leases_->Update(OwnerKey(p), worker_, rev);
    std::lock_guard lock(mu_);
    auto it = owned_.find(p);
    if (it == owned_.end() || it->second != rev) continue;  // released or re-taken meanwhile
    if (renewed.ok()) {
      it->second = *renewed;
      valid_until_[p] = sent + leases_->ttl() * 3 / 4;
      continue;
    }
    owned_.erase(it);
    valid_until_.erase(p);
    lost_.insert(p);
  }
  std::set<uint32_t> lost;
  {
    std::lock_guard lock(mu_);
    lost.swap(lost_);
  }
  for (uint32_t p : lost) {
    spdlog::error("{}: lease of partition {} lost; abandoning it", group_, p);
    (callbacks_.abandon ? callbacks_.abandon : callbacks_.stop)(p);
  }
}

void PartitionAssigner::Heartbeat() {
  if (member_revision_ != 0) {
    auto rev = leases_->Update(MemberKey(), worker_, member_revision_);
    if (rev.ok()) {
      member_revision_ = *rev;
      return;
    }
    spdlog::warn("{}: membership record of {} lost ({}); joining again", group_, worker_,
                 rev.status().ToString());
    member_revision_ = 0;
  }
  auto rev = leases_->Create(MemberKey(), worker_);
  if (rev.ok()) {
    member_revision_ = *rev;
  } else if (rev.status().code() == StatusCode::kAlreadyExists) {
    // Our own record from before a lost update: take it over by deleting it.
    (void)leases_->Delete(MemberKey());
  } else {
    spdlog::warn("{}: cannot join as {}: {}", group_, worker_, rev.status().ToString());
  }
}

void PartitionAssigner::Release(uint32_t partition) {
  callbacks_.stop(partition);  // its lease is still renewed meanwhile
  {
    std::lock_guard lock(mu_);
    owned_.erase(partition);
    valid_until_.erase(partition);
  }
  Status st = leases_->Delete(OwnerKey(partition));
  if (!st.ok())
    spdlog::warn("{}: releasing partition {}: {} (it expires by itself)", group_, partition,
                 st.ToString());
  spdlog::info("{}: {} released partition {}", group_, worker_, partition);
}

void PartitionAssigner::Rebalance() {
  std::lock_guard tick(tick_mu_);
  auto listed = leases_->List(group_ + ".members.");
  if (!listed.ok()) {
    spdlog::warn("{}: cannot list members: {}", group_, listed.status().ToString());
    return;  // cannot tell the share: keep what we have (Renew keeps it safe)
  }
  const bool joined = member_revision_ != 0;
  std::vector<std::string> members;
  for (const auto& [key, value] : *listed) members.push_back(key.substr(key.rfind('.') + 1));
  if (joined && std::find(members.begin(), members.end(), worker_) == members.end()) {
    members.push_back(worker_);
  }
  std::sort(members.begin(), members.end());
  std::set<uint32_t> share;
  if (joined) {
    const size_t index = std::find(members.begin(), members.end(), worker_) - members.begin();
    share = ShareOf(index, members.size(), partitions_);
  }
  std::map<uint32_t, uint64_t> owned;
  {
    std::lock_guard lock(mu_);
    members_ = members;
    owned = owned_;
  }
  // Hand over what is no longer ours; take what is ours and free.
  for (const auto& [p, rev] : owned) {
    if (!share.count(p)) Release(p);
  }
  for (uint32_t p : share) {
    {
      std::lock_guard lock(mu_);
      if (owned_.count(p)) continue;
    }
    const auto sent = std::chrono::steady_clock::now();
    auto rev = leases_->Create(OwnerKey(p), worker_);
    if (!rev.ok()) {
      if (rev.status().code() != StatusCode::kAlreadyExists)
        spdlog::warn("{}: cannot take partition {}: {}", group_, p, rev.status().ToString());
      continue;  // its previous owner has not released it yet, or its lease has not expired
    }
    {
      std::lock_guard lock(mu_);
      owned_[p] = *rev;  // renewed from now on, while it starts
      valid_until_[p] = sent + leases_->ttl() * 3 / 4;
    }
    Status st = callbacks_.start(p);
    if (!st.ok()) {
      spdlog::error("{}: cannot start partition {}: {}", group_, p, st.ToString());
      {
        std::lock_guard lock(mu_);
        owned_.erase(p);
        valid_until_.erase(p);
      }
      (void)leases_->Delete(OwnerKey(p));
      continue;
    }
    spdlog::info("{}: {} owns partition {}", group_, worker_, p);
  }
}

bool PartitionAssigner::HoldsLease(uint32_t partition) const {
  std::lock_guard lock(mu_);
  auto it = valid_until_.find(partition);
  return it != valid_until_.end() && std::chrono::steady_clock::now() < it->second;
}

std::set<uint32_t> PartitionAssigner::Owned() const {
  std::lock_guard lock(mu_);
  std::set<uint32_t> out;
  for (const auto& [p, rev] : owned_) out.insert(p);
  return out;
}

std::vector<std::string> PartitionAssigner::Members() const {
  std::lock_guard lock(mu_);
  return members_;
}

std::string NewWorkerId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "host");
  std::string out;
  for (const char* c = host; *c; ++c) {
    const bool ok = std::isalnum(static_cast<unsigned char>(*c)) || *c == '-' || *c == '_';
    out += ok ? *c : '-';
  }
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "%06x", rd() & 0xffffff);
  return out + "-" + std::to_string(getpid()) + "-" + suffix;
}

}  // namespace inlet::cluster
