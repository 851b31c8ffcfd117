// PartitionAssigner: shares the partitions of one subscription among the
// live processes of a role. Each process refreshes a membership record
// "<group>.members.<worker>" in the bus's LeaseStore; the live members,
// sorted by id, split the partitions round robin (member i of n owns every
// partition p with p % n == i). A process starts a partition only after it
// created the partition's lease "<group>.owner.<p>", renews its leases on
// every tick, and stops a partition at once when its lease cannot be renewed
// or when the partition belongs to another member: a partition has at most
// one live owner, and moves when members come (after the old owner released
// it) or go (after its lease expired). Owns one thread; thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bus/bus.h"
#include "common/status.h"

namespace inlet::cluster {

struct AssignerCallbacks {
  // Starts the work of a partition whose lease this process now holds. An
  // error releases the lease; it is retried on a later tick.
  std::function<Status(uint32_t partition)> start;
  // Stops the work of a partition (flushing what can be flushed); the lease
  // is released afterwards.
  std::function<void(uint32_t partition)> stop;
  // Stops the work of a partition whose lease was lost, committing nothing
  // more: another process may own it by now and resumes from the last
  // commit. Unset: stop.
  std::function<void(uint32_t partition)> abandon;
};

class PartitionAssigner {
 public:
  // `group` names the role and subscription, e.g. "deliver.raw-events"
  // ([A-Za-z0-9_-] and '.'); `worker` is unique per process.
  PartitionAssigner(bus::LeaseStore* leases, std::string group, uint32_t partitions,
                    std::string worker, AssignerCallbacks callbacks);
  ~PartitionAssigner();  // Stop()

  // Joins the group and starts the background ticks (every ttl / 4).
  void Start();
  // Stops every owned partition, releases the leases, leaves the group.
  void Stop();
  // One round of both threads' work: Renew(), then Rebalance(). For tests.
  void Tick();
  // Refreshes the membership record and every owned lease; stops at once a
  // partition whose lease could not be renewed.
  void Renew();
  // Computes the share from the live members, releases what is no longer
  // ours, takes what is ours and free.
  void Rebalance();

  std::set<uint32_t> Owned() const;
  // True while this process may still commit work of `partition`: it holds
  // the lease and its last successful write of it was sent less than 3/4 of
  // the TTL ago. Nobody else can take the lease before a full TTL after that
  // write, so a commit point started while this holds (and finishing within
  // the last quarter) never races the next owner (self-fencing by time).
  // Renewals run every TTL / 4.
  bool HoldsLease(uint32_t partition) const;
  // Live members at the last tick.
  std::vector<std::string> Members() const;
  const std::string& group() const { return group_; }
  const std::string& worker() const { return worker_; }

  // The partitions member `index` of `members` owns.
  static std::set<uint32_t> ShareOf(size_t index, size_t members, uint32_t partitions);

 private:
  std::string MemberKey() const;
  std::string OwnerKey(uint32_t partition) const;
  void Heartbeat();
  void Release(uint32_t partition);

  bus::LeaseStore* leases_;
  const std::string group_;
  const uint32_t partitions_;
  const std::string worker_;
  AssignerCallbacks callbacks_;

  mutable std::mutex mu_;               // guards owned_, members_
  std::map<uint32_t, uint64_t> owned_;  // partition -> lease revision
  std::map<uint32_t, std::chrono::steady_clock::time_point> valid_until_;
  std::vector<std::string> members_;
  std::set<uint32_t> lost_;  // leases Renew could not renew, to stop
  std::atomic<uint64_t> member_revision_{0};

  std::mutex tick_mu_;   // one Rebalance at a time
  std::mutex renew_mu_;  // one Renew at a time
  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stop_ = false;
  std::thread thread_;        // Rebalance
  std::thread renew_thread_;  // Renew
};

// A process-unique worker id: "<hostname>-<pid>-<random>".
std::string NewWorkerId();

}  // namespace inlet::cluster
