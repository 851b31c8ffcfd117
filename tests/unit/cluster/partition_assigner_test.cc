#include "cluster/partition_assigner.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

namespace inlet::cluster {
namespace {

// A LeaseStore in memory with a hand-driven clock: records expire ttl after
// their last write, as in a JetStream KV bucket with a max age.
class FakeLeases : public bus::LeaseStore {
 public:
  Result<uint64_t> Create(std::string_view key, std::string_view value) override {
    std::lock_guard lock(mu_);
    auto it = records_.find(std::string(key));
    if (it != records_.end() && Live(it->second))
      return Status(StatusCode::kAlreadyExists, "key exists");
    records_[std::string(key)] = {std::string(value), ++revision_, now_ms_};
    return revision_;
  }
  Result<uint64_t> Update(std::string_view key, std::string_view value,
                          uint64_t revision) override {
    std::lock_guard lock(mu_);
    auto it = records_.find(std::string(key));
    if (it == records_.end() || !Live(it->second)) return Status::NotFound("expired");
    if (it->second.revision != revision)
      return Status(StatusCode::kAlreadyExists, "wrong last revision");
    it->second = {std::string(value), ++revision_, now_ms_};
    return revision_;
  }
  Status Delete(std::string_view key) override {
    std::lock_guard lock(mu_);
    records_.erase(std::string(key));
    return Status::Ok();
  }
  Result<std::vector<std::pair<std::string, std::string>>> List(std::string_view prefix) override {
    std::lock_guard lock(mu_);
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, r] : records_) {
      if (k.rfind(prefix, 0) == 0 && Live(r)) out.emplace_back(k, r.value);
    }
    return out;
  }
  bus::Millis ttl() const override { return bus::Millis(1000); }
  void Advance(int64_t ms) {
    std::lock_guard lock(mu_);
    now_ms_ += ms;
  }

 private:
  struct Record {
    std::string value;
    uint64_t revision;
    int64_t written_ms;
  };
  bool Live(const Record& r) const { return now_ms_ - r.written_ms < ttl().count(); }
  std::mutex mu_;
  std::map<std::string, Record> records_;
  uint64_t revision_ = 0;
  int64_t now_ms_ = 0;
};

// Records which partitions are running in each simulated process.
struct Runner {
  std::set<uint32_t> running;
  int starts = 0, stops = 0, abandons = 0;
  AssignerCallbacks Callbacks() {
    return {[this](uint32_t p) {
              EXPECT_TRUE(running.insert(p).second) << "partition " << p << " started twice";
              ++starts;
              return Status::Ok();
            },
            [this](uint32_t p) {
              EXPECT_EQ(running.erase(p), 1u) << "partition " << p << " stopped but not running";
              ++stops;
            },
            [this](uint32_t p) {
              EXPECT_EQ(running.erase(p), 1u) << "partition " << p << " abandoned but not running";
              ++abandons;
            }};
  }
};

void ExpectDisjoint(const std::set<uint32_t>& a, const std::set<uint32_t>& b) {
  for (uint32_t p : a) EXPECT_FALSE(b.count(p)) << "partition " << p << " has two owners";
}

TEST(PartitionAssignerTest, ShareSplitsRoundRobin) {
  EXPECT_EQ(PartitionAssigner::ShareOf(0, 1, 4), (std::set<uint32_t>{0, 1, 2, 3}));
  EXPECT_EQ(PartitionAssigner::ShareOf(1, 2, 5), (std::set<uint32_t>{1, 3}));
  EXPECT_EQ(PartitionAssigner::ShareOf(2, 3, 2), (std::set<uint32_t>{}));
}

TEST(PartitionAssignerTest, OneProcessOwnsEveryPartitionAndReleasesThemOnStop) {
  FakeLeases leases;
  Runner r;
  PartitionAssigner a(&leases, "deliver.raw", 4, "w1", r.Callbacks());
  a.Tick();
  EXPECT_EQ(a.Owned(), (std::set<uint32_t>{0, 1, 2, 3}));
  EXPECT_EQ(r.running, a.Owned());
  a.Stop();
  EXPECT_TRUE(r.running.empty());
  EXPECT_TRUE(leases.List("deliver.raw.")->empty()) << "leases and membership are released";
}

TEST(PartitionAssignerTest, ASecondProcessTakesHalfAfterTheFirstHandsItOver) {
  FakeLeases leases;
  Runner r1, r2;
  PartitionAssigner a(&leases, "process.p", 4, "a", r1.Callbacks());
  PartitionAssigner b(&leases, "process.p", 4, "b", r2.Callbacks());
  a.Tick();
  b.Tick();  // b joins; a still holds everything, so b gets nothing yet
  ExpectDisjoint(r1.running, r2.running);
  EXPECT_TRUE(r2.running.empty());
  a.Tick();  // a sees b and releases b's share
  b.Tick();  // b takes it
  ExpectDisjoint(r1.running, r2.running);
  EXPECT_EQ(r1.running, (std::set<uint32_t>{0, 2}));
  EXPECT_EQ(r2.running, (std::set<uint32_t>{1, 3}));
  // b leaves cleanly: a takes everything at its next tick.
  b.Stop();
  a.Tick();
  EXPECT_EQ(r1.running, (std::set<uint32_t>{0, 1, 2, 3}));
}

TEST(PartitionAssignerTest, ACrashedOwnersPartitionsMoveOnlyAfterItsLeaseExpired) {
  FakeLeases leases;
  Runner r1, r2;
  PartitionAssigner a(&leases, "g", 2, "a", r1.Callbacks());
  PartitionAssigner b(&leases, "g", 2, "b", r2.Callbacks());
  a.Tick();
  b.Tick();
  a.Tick();
  b.Tick();
  ASSERT_EQ(r1.running, (std::set<uint32_t>{0}));
  ASSERT_EQ(r2.running, (std::set<uint32_t>{1}));
  EXPECT_TRUE(a.HoldsLease(0));
  EXPECT_FALSE(a.HoldsLease(1)) << "a may commit only what it owns";
  EXPECT_TRUE(b.HoldsLease(1));
  // b stops ticking (killed or frozen). Before its lease expires, a cannot take partition 1.
  leases.Advance(500);
  a.Tick();
  EXPECT_EQ(r1.running, (std::set<uint32_t>{0}));
  leases.Advance(600);  // b's records expired; a's were renewed 600 ms ago
  a.Tick();
  EXPECT_EQ(r1.running, (std::set<uint32_t>{0, 1}));
  // b wakes up: its renewal fails, so it abandons partition 1 at once,
  // committing nothing more (a resumes from b's last commit).
  const int stops_before = r2.stops;
  b.Tick();
  ExpectDisjoint(r1.running, r2.running);
  EXPECT_TRUE(r2.running.empty());
  EXPECT_EQ(r2.abandons, 1);
  EXPECT_EQ(r2.stops, stops_before);
  EXPECT_FALSE(b.HoldsLease(1)) << "a commit of b's would race a's";
  EXPECT_TRUE(a.HoldsLease(1));
  EXPECT_EQ(b.Owned(), std::set<uint32_t>{});
  // It joined again; a hands partition 1 back over, and b takes it.
  a.Tick();
  b.Tick();
  ExpectDisjoint(r1.running, r2.running);
  EXPECT_EQ(r1.running.size() + r2.running.size(), 2u);
}

TEST(PartitionAssignerTest, AFailedStartReleasesTheLeaseAndIsRetried) {
  FakeLeases leases;
  int attempts = 0;
  std::set<uint32_t> running;
  PartitionAssigner a(&leases, "g", 1, "a",
                      {[&](uint32_t p) {
                         if (++attempts == 1) return Status::Unavailable("lake not reachable");
                         running.insert(p);
                         return Status::Ok();
                       },
                       [&](uint32_t p) { running.erase(p); }});
  a.Tick();
  EXPECT_TRUE(a.Owned().empty());
  EXPECT_EQ(leases.List("g.owner.")->size(), 0u);
  a.Tick();
  EXPECT_EQ(a.Owned(), std::set<uint32_t>{0});
  EXPECT_EQ(running, std::set<uint32_t>{0});
}

}  // namespace
}  // namespace inlet::cluster
