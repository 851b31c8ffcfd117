// Exactly-once outputs of a processor: the processed-seq set and state
// encoding, the window snapshot, and an EventProcessor that is "restarted"
// (a new instance on the same lake) after a commit, after a redelivery and
// after an unfinished commit.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "bus/message.h"
#include "process/event_processor.h"
#include "process/presence_aggregator.h"
#include "process/processor_state.h"
#include "storage/local_object_store.h"
#include "support/test_support.h"

namespace inlet::process {
namespace {

using inlet::testing::TempDir;
using inlet::testing::WriteFile;

TEST(SeqSetTest, MergesAdjacentRangesAndCompactsGaps) {
  SeqSet s;
  for (uint64_t v : {5, 1, 3, 2, 10, 4, 12}) s.Insert(v);
  EXPECT_TRUE(s.Contains(1) && s.Contains(5) && s.Contains(10) && s.Contains(12));
  EXPECT_FALSE(s.Contains(6) || s.Contains(11) || s.Contains(0) || s.Contains(13));
  EXPECT_EQ(s.ranges(), (std::map<uint64_t, uint64_t>{{1, 5}, {10, 10}, {12, 12}}));
  s.InsertRange(6, 11);
  EXPECT_EQ(s.ranges(), (std::map<uint64_t, uint64_t>{{1, 12}}));
  s.Insert(20);
  s.Insert(30);
  EXPECT_EQ(s.Compact(2), 7u);  // 13..19 now count as processed
  EXPECT_EQ(s.ranges(), (std::map<uint64_t, uint64_t>{{1, 20}, {30, 30}}));
}

// Random inserts (in order, out of order, overlapping) against a plain set:
// the ranges are always the maximal runs of the ids inserted.
TEST(SeqSetTest, RangesAreTheMaximalRunsOfRandomInserts) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 200; ++round) {
    SeqSet s;
    std::set<uint64_t> ids;
    uint64_t next = 1;
    for (int op = 0; op < 60; ++op) {
      uint64_t first = rng() % 3 == 0 ? next : 1 + rng() % 150;  // often the next id in order
      uint64_t last = first + (rng() % 4 == 0 ? rng() % 12 : 0);
      if (first == last) {
        s.Insert(first);
      } else {
        s.InsertRange(first, last);
      }
      for (uint64_t v = first; v <= last; ++v) ids.insert(v);
      next = last + 1;
      std::map<uint64_t, uint64_t> runs;
      for (uint64_t v : ids) {
        if (!runs.empty() && std::prev(runs.end())->second + 1 == v) {
          std::prev(runs.end())->second = v;
        } else {
          runs[v] = v;
        }
      }
      ASSERT_EQ(s.ranges(), runs) << "round " << round << ", op " << op;
    }
  }
}

TEST(ProcessorStateTest, RoundTripsStateAndIntent) {
  ProcessorState st;
  st.commit = 7;
  st.snapshot = "_state/processor-p-7.windows";
  st.processed.InsertRange(1, 1'000'000'000);
  st.processed.Insert(1'000'000'005);
  auto back = DecodeProcessorState(EncodeProcessorState("p", st));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, st);
  ProcessorIntent in{8, {"curated/events/a \"b\".parquet", "_state/x"}};
  auto in_back = DecodeProcessorIntent(EncodeProcessorIntent("p", in));
  ASSERT_TRUE(in_back.ok());
  EXPECT_EQ(*in_back, in);
  EXPECT_FALSE(DecodeProcessorState("{\"format\":2}").ok());
  EXPECT_FALSE(
      DecodeProcessorState("{\"format\":1,\"commit\":1,\"snapshot\":\"\",\"processed\":[[5,4]]}")
          .ok());
}

struct Fixture {
  TempDir dir;
  schema::TableSchema table;
  ProcessorConfig config;
  std::unique_ptr<storage::ObjectStore> lake;

  Fixture() {
    WriteFile(dir.path() / "pois.csv",
              "id,name,lat,lon,radius_m,category\np1,One,40.0,-74.0,500,x\n");
    WriteFile(dir.path() / "key", "exactly-once-test-key-0123456789");
    table.database = "raw", table.name = "events";
    table.columns.push_back(
        {.name = "event_id", .type = *schema::ParseType("string"), .required = true});
    table.columns.push_back(
        {.name = "user_id", .type = *schema::ParseType("string"), .required = true});
    table.columns.push_back(
        {.name = "ts", .type = *schema::ParseType("timestamp"), .required = true});
    table.columns.push_back({.name = "lat",
                             .type = *schema::ParseType("double"),
                             .required = true,
                             .min = -90,
                             .max = 90});
    table.columns.push_back(
        {.name = "lon", .type = *schema::ParseType("double"), .required = true});
    table.columns.push_back({.name = "age", .type = *schema::ParseType("int")});
    table.columns.push_back({.name = "gender", .type = *schema::ParseType("string")});
    config.name = "presence";
    config.subscription = "processing";
    config.table = "raw.events";
    config.mapping = {{"event_id", "$.event_id"},
                      {"user_id", "$.user_id"},
                      {"ts", "$.ts"},
                      {"lat", "$.lat"},
                      {"lon", "$.lon"},
                      {"age", "$.age", Derive::kAge},
                      {"gender", "$.gender", Derive::kGender}};
    config.masking.key_file = (dir.path() / "key").string();
    MaskRule r;
    r.column = "user_id", r.op = MaskOp::kPseudonym;
    config.masking.rules = {r};
    config.aggregate.enabled = true;
    config.aggregate.poi_file = (dir.path() / "pois.csv").string();
    config.aggregate.window = std::chrono::minutes(1);
    config.aggregate.allowed_lateness = std::chrono::seconds(0);
    config.aggregate.idle_close = std::chrono::milliseconds(0);
    lake = std::move(*storage::LocalObjectStore::Open(dir.path() / "lake"));
  }

  Result<std::unique_ptr<EventProcessor>> Open() {
    return EventProcessor::Create(config, table, lake.get(), nullptr, nullptr);
  }

  // Event i at 1717200000 + i s (minute windows), user u<i % 3>; seq = i + 1.
  static std::vector<bus::Message> Messages(int from, int to) {
    std::vector<bus::Message> out;
    for (int i = from; i < to; ++i) {
      bus::Message m;
      m.seq = static_cast<uint64_t>(i) + 1;
      m.arrival_us = 1'717'200'000'000'000;
      m.payload = "{\"event_id\":\"e" + std::to_string(i) + "\",\"user_id\":\"u" +
                  std::to_string(i % 3) + "\",\"ts\":" + std::to_string(1'717'200'000 + i) +
                  ",\"lat\":40.0,\"lon\":-74.0}";
      out.push_back(std::move(m));
    }
    return out;
  }

  size_t Count(const std::string& prefix) {
    auto l = lake->List(prefix);
    return l.ok() ? l->size() : 0;
  }
};

Result<BatchResult> Process(EventProcessor* p, const std::vector<bus::Message>& messages) {
  auto w = p->NewWorker();
  if (!w.ok()) return w.status();
  std::vector<const bus::Message*> ptrs;
  for (const auto& m : messages) ptrs.push_back(&m);
  return p->ProcessBatch(w->get(), ptrs);
}

TEST(ExactlyOnceTest, RestartRestoresOpenWindowsAndSkipsCommittedMessages) {
  Fixture f;
  {
    auto p = f.Open();
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    auto r = Process(p->get(), Fixture::Messages(0, 30));  // window 0 (events 0..29 of minute 0)
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->accepted, 30u);
    EXPECT_EQ((*p)->committed(), 1u);
  }  // "SIGKILL": the open window exists only in the checkpoint
  EXPECT_EQ(f.Count("curated/poi_presence/"), 0u);
  auto p = f.Open();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((*p)->aggregator()->Stats().open_windows, 1u);
  // Redelivery of part of the committed batch together with new events.
  auto r = Process(p->get(), Fixture::Messages(20, 130));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->duplicates, 10u);
  EXPECT_EQ(r->accepted, 100u);
  // A batch made only of committed messages writes nothing.
  const size_t events_files = f.Count("curated/events/");
  r = Process(p->get(), Fixture::Messages(0, 130));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->duplicates, 130u);
  EXPECT_EQ(f.Count("curated/events/"), events_files);
  ASSERT_TRUE((*p)->EmitReady(true).ok());
  // The lake: 130 distinct events, window counts 60 + 60 + 10 with 3 persons each.
  auto l = f.lake->List("curated/poi_presence/");
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*p)->aggregator()->Stats().open_windows, 0u);
}

TEST(ExactlyOnceTest, NoCommitAndNoDeletionWhileTheLeaseMayHavePassedOn) {
  Fixture f;
  bool lease = true;
  f.config.partition = 0;
  f.config.may_commit = [&] { return lease; };
  auto p = f.Open();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE(Process(p->get(), Fixture::Messages(0, 30)).ok());
  EXPECT_EQ((*p)->ResumeAfter(), 30u);
  auto before = f.lake->List("");
  ASSERT_TRUE(before.ok());
  // The lease may have passed to another process: nothing is written, and
  // nothing of what the other process may have written under the next
  // commit's keys is deleted.
  lease = false;
  auto refused = Process(p->get(), Fixture::Messages(30, 60));
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status().ToString();
  auto after = f.lake->List("");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), before->size());
  EXPECT_EQ((*p)->ResumeAfter(), 30u);
  lease = true;
  auto r = Process(p->get(), Fixture::Messages(30, 60));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->accepted, 30u) << "the refused batch counted nothing";
  EXPECT_EQ((*p)->ResumeAfter(), 60u);
}

TEST(ExactlyOnceTest, AnUnfinishedCommitIsRolledBackOnRestart) {
  Fixture f;
  {
    auto p = f.Open();
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(Process(p->get(), Fixture::Messages(0, 10)).ok());
  }
  // A crash after commit 2 wrote a file but before its state: the intent names it.
  ASSERT_TRUE(
      f.lake->PutBytes("curated/events/year=2024/month=06/day=01/presence-11-20.parquet", "x")
          .ok());
  ProcessorIntent intent{2,
                         {"curated/events/year=2024/month=06/day=01/presence-11-20.parquet",
                          ProcessorSnapshotKey("presence", 2)}};
  ASSERT_TRUE(
      f.lake->PutBytes(ProcessorIntentKey("presence"), EncodeProcessorIntent("presence", intent))
          .ok());
  ASSERT_TRUE(f.lake->PutBytes(ProcessorSnapshotKey("presence", 2), "garbage").ok());
  const size_t before = f.Count("curated/events/");
  auto p = f.Open();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(f.Count("curated/events/"), before - 1);
  EXPECT_FALSE(*f.lake->Exists(ProcessorSnapshotKey("presence", 2)));
  EXPECT_FALSE(*f.lake->Exists(ProcessorIntentKey("presence")));
  EXPECT_TRUE(*f.lake->Exists(ProcessorSnapshotKey("presence", 1)));
  EXPECT_EQ((*p)->committed(), 1u);
  // The same messages are processed again as commit 2.
  auto r = Process(p->get(), Fixture::Messages(10, 20));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accepted, 10u);
  EXPECT_EQ((*p)->committed(), 2u);
  // A batch commit writes the journal of its windows as a delta on snapshot 1.
  EXPECT_TRUE(*f.lake->Exists(ProcessorSnapshotKey("presence", 1)));
  EXPECT_TRUE(*f.lake->Exists(ProcessorDeltaKey("presence", 2)));
  // A window emission writes a whole snapshot, which supersedes both.
  ASSERT_TRUE((*p)->EmitReady(true).ok());
  EXPECT_EQ((*p)->committed(), 3u);
  EXPECT_FALSE(*f.lake->Exists(ProcessorSnapshotKey("presence", 1)));
  EXPECT_FALSE(*f.lake->Exists(ProcessorDeltaKey("presence", 2)));
  EXPECT_TRUE(*f.lake->Exists(ProcessorSnapshotKey("presence", 3)));
}

TEST(ExactlyOnceTest, RestartReplaysWindowDeltasExactly) {
  // Two processors get the same batches; one restarts after each batch
  // (snapshot + deltas from the lake), the other never: same windows out.
  Fixture f, g;
  auto steady = g.Open();
  ASSERT_TRUE(steady.ok());
  for (int b = 0; b < 6; ++b) {
    auto p = f.Open();
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    ASSERT_TRUE(Process(p->get(), Fixture::Messages(b * 20, b * 20 + 20)).ok());
    ASSERT_TRUE(Process(steady->get(), Fixture::Messages(b * 20, b * 20 + 20)).ok());
  }
  auto state = f.lake->Get(ProcessorStateKey("presence"));
  ASSERT_TRUE(state.ok());
  auto decoded = DecodeProcessorState(*state);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->deltas.size(), 5u);  // commit 1 is a snapshot, 2..6 deltas
  auto p = f.Open();
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->EmitReady(true).ok());
  ASSERT_TRUE((*steady)->EmitReady(true).ok());
  auto read_all = [](Fixture& fx) {
    std::vector<std::string> out;
    auto l = fx.lake->List("curated/poi_presence/");
    for (const auto& o : *l) {
      out.push_back(o.key.substr(o.key.rfind('/')) + ":" + *fx.lake->Get(o.key));
    }
    return out;
  };
  EXPECT_EQ(read_all(f), read_all(g));
  EXPECT_FALSE(read_all(f).empty());
}

TEST(ExactlyOnceTest, WindowSnapshotRestoresCountsExactly) {
  Fixture f;
  auto pois = LoadPois(f.config.aggregate.poi_file, 100);
  ASSERT_TRUE(pois.ok());
  auto index = PoiIndex::Build(std::move(*pois));
  ASSERT_TRUE(index.ok());
  PresenceAggregator a(index->get(), f.config.aggregate), b(index->get(), f.config.aggregate);
  std::vector<PresenceInput> in;
  for (int i = 0; i < 500; ++i) {
    in.push_back({.time_us = (1'717'200'000LL + i) * 1'000'000,
                  .lat = 40.0,
                  .lon = -74.0,
                  .band = static_cast<uint8_t>(i % 2),
                  .gender = static_cast<uint8_t>(i % 3),
                  .person = static_cast<uint64_t>(i % 37)});
  }
  std::vector<uint8_t> late(in.size());
  a.Add(in, late);
  const std::string snap = a.Snapshot();
  ASSERT_TRUE(b.Restore(snap).ok());
  EXPECT_EQ(b.Snapshot().size(), snap.size());
  EXPECT_EQ(b.watermark(), a.watermark());
  // The same persons again after the restore: counted as events, not as new persons.
  a.Add(in, late);
  b.Add(in, late);
  auto wa = a.TakeReady(true, 0), wb = b.TakeReady(true, 0);
  ASSERT_EQ(wa.size(), wb.size());
  ASSERT_GE(wa.size(), 8u);
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_EQ(wa[i].rows, wb[i].rows);
  EXPECT_FALSE(b.Restore(snap.substr(0, snap.size() - 3)).ok());
  EXPECT_FALSE(b.Restore("nonsense").ok());

  // At max_persons_per_window, a shard's cells that only untracked persons
  // reached have events and no persons: they survive a snapshot too.
  AggregateConfig small = f.config.aggregate;
  small.max_persons_per_window = 16;  // one per shard
  PresenceAggregator c(index->get(), small), d(index->get(), small);
  c.Add(in, late);
  ASSERT_GT(c.Stats().persons_overflow, 0u);
  ASSERT_TRUE(d.Restore(c.Snapshot()).ok());
  EXPECT_EQ(d.Snapshot().size(), c.Snapshot().size());
  auto wc = c.TakeReady(true, 0), wd = d.TakeReady(true, 0);
  ASSERT_EQ(wc.size(), wd.size());
  uint64_t events = 0;
  for (size_t i = 0; i < wc.size(); ++i) {
    EXPECT_EQ(wc[i].rows, wd[i].rows);
    for (const PresenceRow& r : wd[i].rows) events += r.events;
  }
  EXPECT_EQ(events, in.size());  // every event, tracked person or not
}

TEST(ExactlyOnceTest, WindowJournalReplaysAddsExactly) {
  Fixture f;
  auto pois = LoadPois(f.config.aggregate.poi_file, 100);
  ASSERT_TRUE(pois.ok());
  auto index = PoiIndex::Build(std::move(*pois));
  ASSERT_TRUE(index.ok());
  AggregateConfig cfg = f.config.aggregate;
  cfg.max_persons_per_window = 40;  // the overflow rule must replay the same way
  PresenceAggregator a(index->get(), cfg), b(index->get(), cfg);
  auto batch = [](int from, int to) {
    std::vector<PresenceInput> in;
    for (int i = from; i < to; ++i) {
      in.push_back({.time_us = (1'717'200'000LL + i) * 1'000'000,
                    .lat = 40.0 + (i % 5) * 1e-4,
                    .lon = -74.0,
                    .band = static_cast<uint8_t>(i % 2),
                    .gender = static_cast<uint8_t>(i % 3),
                    .person = static_cast<uint64_t>(i % 53)});
    }
    return in;
  };
  auto first = batch(0, 300), second = batch(300, 600);
  std::vector<uint8_t> late(300);
  a.Add(first, late);
  ASSERT_TRUE(b.Restore(a.Snapshot()).ok());
  (void)a.TakeJournal();
  a.Add(second, late);
  const std::string journal = a.TakeJournal();
  EXPECT_TRUE(a.TakeJournal().empty());
  ASSERT_TRUE(b.ApplyJournal(journal).ok());
  EXPECT_EQ(b.watermark(), a.watermark());
  EXPECT_EQ(b.Stats().persons_overflow, a.Stats().persons_overflow);
  EXPECT_GT(a.Stats().persons_overflow, 0u);
  auto wa = a.TakeReady(true, 0), wb = b.TakeReady(true, 0);
  ASSERT_EQ(wa.size(), wb.size());
  ASSERT_GE(wa.size(), 8u);
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_EQ(wa[i].rows, wb[i].rows);
  EXPECT_FALSE(b.ApplyJournal(journal.substr(0, journal.size() - 8)).ok());
  EXPECT_FALSE(b.ApplyJournal("nonsense").ok());
}

}  // namespace
}  // namespace inlet::process
