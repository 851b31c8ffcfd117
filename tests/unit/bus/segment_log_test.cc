#include "bus/segment_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>

#include "support/test_support.h"

namespace inlet::bus {
namespace {
namespace fs = std::filesystem;
using inlet::testing::TempDir;

std::vector<OutgoingEvent> Events(int from, int n) {
  std::vector<OutgoingEvent> out;
  for (int i = from; i < from + n; ++i) {
    out.push_back(OutgoingEvent{"{\"id\":" + std::to_string(i) + "}", "", "key", ""});
  }
  return out;
}

Result<SeqRange> Append(SegmentLog& log, std::vector<OutgoingEvent> events) {
  std::promise<Result<SeqRange>> p;
  log.AppendAsync(std::move(events), 1234, [&](Result<SeqRange> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

std::vector<Message> ReadAll(const SegmentLog& log) {
  std::vector<Message> out;
  EXPECT_TRUE(log.Read(1, 1'000'000, 1ull << 40, &out, nullptr).ok());
  return out;
}

TEST(SegmentLogTest, AppendsGetConsecutiveSeqsAndReadBackExactly) {
  TempDir dir;
  auto log = SegmentLog::Open(dir.path(), {});
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  auto r1 = Append(**log, Events(0, 3));
  auto r2 = Append(**log, Events(3, 2));
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(r1->first, 1u);
  EXPECT_EQ(r1->last, 3u);
  EXPECT_EQ(r2->first, 4u);
  EXPECT_EQ(r2->last, 5u);
  auto msgs = ReadAll(**log);
  ASSERT_EQ(msgs.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(msgs[i].seq, static_cast<uint64_t>(i + 1));
    EXPECT_EQ(msgs[i].payload, "{\"id\":" + std::to_string(i) + "}");
    EXPECT_EQ(msgs[i].key_id, "key");
    EXPECT_EQ(msgs[i].arrival_us, 1234);
  }
}

// Reads are sized by the records asked for and the size of recent records:
// records far larger than that (after a batch of small ones) and fetches of a
// few records with a hint must still come back whole and in order.
TEST(SegmentLogTest, SmallFetchesReadRecordsOfEverySizeInOrder) {
  TempDir dir;
  auto log = SegmentLog::Open(dir.path(), {});
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  std::vector<std::string> payloads;
  for (int i = 0; i < 300; ++i) {
    const size_t size = i % 50 == 7 ? 300'000 : i % 10 == 3 ? 9'000 : 20 + i % 7;
    payloads.push_back(std::string(size, static_cast<char>('a' + i % 26)));
  }
  for (size_t i = 0; i < payloads.size(); i += 30) {  // small records last: a small estimate
    std::vector<OutgoingEvent> batch;
    for (size_t j = i; j < i + 30; ++j) batch.push_back(OutgoingEvent{payloads[j], "", "", ""});
    ASSERT_TRUE(Append(**log, std::move(batch)).ok());
  }
  for (size_t max_records : {1, 3, 64}) {
    std::vector<Message> got;
    ReadHint hint;
    uint64_t next = 1;
    while (next <= payloads.size()) {
      std::vector<Message> part;
      ASSERT_TRUE((*log)->Read(next, max_records, 1 << 20, &part, &hint).ok());
      ASSERT_FALSE(part.empty()) << "no progress at seq " << next;
      ASSERT_LE(part.size(), max_records);
      next = part.back().seq + 1;
      for (auto& m : part) got.push_back(std::move(m));
    }
    ASSERT_EQ(got.size(), payloads.size()) << "max_records " << max_records;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].seq, i + 1);
      EXPECT_EQ(got[i].payload, payloads[i]) << "seq " << i + 1 << ", max_records " << max_records;
    }
  }
}

TEST(SegmentLogTest, RollsSegmentsAndReadsAcrossThemAfterReopen) {
  TempDir dir;
  SegmentLogOptions opts;
  opts.segment_bytes = 4096;
  {
    auto log = SegmentLog::Open(dir.path(), opts);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(Append(**log, Events(i * 10, 10)).ok());
    EXPECT_GT((*log)->Stats().segments, 5u);
  }
  auto log = SegmentLog::Open(dir.path(), opts);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->last_durable_seq(), 1000u);
  auto msgs = ReadAll(**log);
  ASSERT_EQ(msgs.size(), 1000u);
  EXPECT_EQ(msgs[999].payload, "{\"id\":999}");
  // Reading from the middle with a limit starts at the right record.
  std::vector<Message> part;
  ASSERT_TRUE((*log)->Read(517, 3, 1 << 20, &part, nullptr).ok());
  ASSERT_EQ(part.size(), 3u);
  EXPECT_EQ(part[0].seq, 517u);
  EXPECT_EQ(part[0].payload, "{\"id\":516}");
  // New appends continue the sequence.
  auto r = Append(**log, Events(1000, 1));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first, 1001u);
}

fs::path LastSegment(const fs::path& dir) {
  fs::path last;
  for (auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".log" && (last.empty() || e.path() > last)) last = e.path();
  }
  return last;
}

TEST(SegmentLogTest, RecoveryTruncatesGarbageAppendedAtTheTail) {
  TempDir dir;
  {
    auto log = SegmentLog::Open(dir.path(), {});
    ASSERT_TRUE(Append(**log, Events(0, 10)).ok());
  }
  const fs::path seg = LastSegment(dir.path());
  const auto good_size = fs::file_size(seg);
  {
    int fd = ::open(seg.c_str(), O_WRONLY | O_APPEND);
    const char junk[] = "\x20\x00\x00\x00garbage-from-a-torn-write";
    ASSERT_EQ(::write(fd, junk, sizeof(junk)), static_cast<ssize_t>(sizeof(junk)));
    ::close(fd);
  }
  auto log = SegmentLog::Open(dir.path(), {});
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->last_durable_seq(), 10u);
  EXPECT_EQ(fs::file_size(seg), good_size);
  EXPECT_EQ((*log)->Stats().truncated_bytes_on_recovery,
            sizeof("\x20\x00\x00\x00garbage-from-a-torn-write"));
  EXPECT_EQ(ReadAll(**log).size(), 10u);
  auto r = Append(**log, Events(10, 1));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first, 11u);
  EXPECT_EQ(ReadAll(**log).size(), 11u);
}

TEST(SegmentLogTest, RecoveryDropsARecordWithAFlippedByteAndEverythingAfterIt) {
  TempDir dir;
  {
    auto log = SegmentLog::Open(dir.path(), {});
    ASSERT_TRUE(Append(**log, Events(0, 10)).ok());
  }
  const fs::path seg = LastSegment(dir.path());
  const auto size = fs::file_size(seg);
  {
    // Flip a byte inside the payload of the last record.
    int fd = ::open(seg.c_str(), O_RDWR);
    char c;
    ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(size - 3)), 1);
    c ^= 0x5A;
    ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(size - 3)), 1);
    ::close(fd);
  }
  auto log = SegmentLog::Open(dir.path(), {});
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->last_durable_seq(), 9u);
  auto msgs = ReadAll(**log);
  ASSERT_EQ(msgs.size(), 9u);
  EXPECT_EQ(msgs.back().payload, "{\"id\":8}");
}

TEST(SegmentLogTest, DiskBudgetRefusesAppendsWithNoSpace) {
  TempDir dir;
  DiskBudget budget(2000);
  SegmentLogOptions opts;
  opts.budget = &budget;
  auto log = SegmentLog::Open(dir.path(), opts);
  ASSERT_TRUE(log.ok());
  Status last;
  int accepted = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = Append(**log, Events(i, 5));
    if (!r.ok()) {
      last = r.status();
      break;
    }
    ++accepted;
  }
  EXPECT_EQ(last.code(), StatusCode::kNoSpace) << last.ToString();
  EXPECT_NE(last.message().find("budget"), std::string::npos);
  EXPECT_GT(accepted, 0);
  EXPECT_EQ(ReadAll(**log).size(), static_cast<size_t>(accepted) * 5);
}

TEST(SegmentLogTest, DeleteSegmentsKeepsUnacknowledgedOnes) {
  TempDir dir;
  SegmentLogOptions opts;
  opts.segment_bytes = 2048;
  auto log = SegmentLog::Open(dir.path(), opts);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(Append(**log, Events(i * 10, 10)).ok());
  const auto segments = (*log)->Stats().segments;
  ASSERT_GT(segments, 3u);
  const auto future = std::chrono::system_clock::now() + std::chrono::hours(1);
  EXPECT_EQ((*log)->DeleteSegments(1, future), 0u);  // nothing acknowledged
  EXPECT_GT((*log)->DeleteSegments(250, future), 0u);
  EXPECT_LE((*log)->first_seq(), 250u);
  EXPECT_LT((*log)->Stats().segments, segments);
  // Too young: retention keeps them even when acknowledged.
  const auto past = std::chrono::system_clock::now() - std::chrono::hours(1);
  EXPECT_EQ((*log)->DeleteSegments(501, past), 0u);
  std::vector<Message> rest;
  ASSERT_TRUE((*log)->Read(250, 1'000'000, 1ull << 40, &rest, nullptr).ok());
  EXPECT_EQ(rest.size(), 251u);
  EXPECT_EQ(rest.front().seq, 250u);
}

}  // namespace
}  // namespace inlet::bus
