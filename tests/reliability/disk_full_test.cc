// Disk full: the log lives on a small tmpfs mounted by the test. When it
// fills, producers get 507 with Retry-After instead of acknowledgements; every
// acknowledged event is kept; when space returns, ingest resumes by itself.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/mount.h>

#include <set>
#include <thread>

#include "http/api_keys.h"
#include "support/inlet_process.h"

namespace inlet::testing {
namespace {

TEST(DiskFullTest, FullDiskAnswers507KeepsAcknowledgedEventsAndRecovers) {
  TempDir dir;
  const auto mnt = dir.path() / "small";
  std::filesystem::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=40m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << std::strerror(errno);
  }
  struct Unmount {
    std::filesystem::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  // Space we give back later.
  WriteFile(mnt / "filler", std::string(16 << 20, 'f'));

  const int port = FreePort();
  const std::string config = TestConfig(port, mnt / "data", R"(topics:
  events: {segment_bytes: 4MiB}
subscriptions:
  s: {topic: events}
)",
                                        "  max_request_bytes: 1MiB\n  max_pending_bytes: 4MiB\n");
  InletProcess inlet(dir.path(), config, port);
  ASSERT_TRUE(inlet.WaitReady()) << inlet.Log();

  std::set<std::string> acked;
  int n = 0;
  auto post_batch = [&](int* status, std::string* retry_after) {
    std::string body;
    std::vector<std::string> ids;
    for (int i = 0; i < 200; ++i, ++n) {
      ids.push_back("e" + std::to_string(n));
      body += "{\"event_id\":\"" + ids.back() + "\",\"pad\":\"" + std::string(400, 'p') + "\"}\n";
    }
    auto r =
        inlet.Post("/v1/topics/events/events", body, {{"Content-Type", "application/x-ndjson"}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    *status = r->status;
    *retry_after = r->Header("retry-after");
    if (r->status == 200) acked.insert(ids.begin(), ids.end());
  };
  int status = 0;
  std::string retry_after;
  for (int i = 0; i < 2000 && status != 507; ++i) post_batch(&status, &retry_after);
  ASSERT_EQ(status, 507) << "the disk never filled";
  EXPECT_FALSE(retry_after.empty());
  ASSERT_GT(acked.size(), 1000u);
  // Still full: still refused, nothing half-written becomes visible.
  post_batch(&status, &retry_after);
  EXPECT_EQ(status, 507);

  // Space returns: ingest resumes by itself.
  std::filesystem::remove(mnt / "filler");
  bool resumed = false;
  for (int i = 0; i < 50 && !resumed; ++i) {
    post_batch(&status, &retry_after);
    resumed = status == 200;
    if (!resumed) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(resumed) << "ingest did not resume after space was freed";

  // Every acknowledged event is there, exactly as many as acknowledged.
  std::set<std::string> seen;
  simdjson::dom::parser p;
  for (;;) {
    auto r = inlet.Post("/v1/subscriptions/s/receive", R"({"max_messages": 5000})");
    ASSERT_TRUE(r.ok() && r->status == 200);
    simdjson::dom::array msgs = p.parse(r->body)["messages"];
    if (msgs.size() == 0) break;
    for (auto m : msgs) seen.insert(std::string(std::string_view(m["body"]["event_id"])));
  }
  size_t missing = 0;
  for (const auto& id : acked) missing += !seen.count(id);
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(seen.size(), acked.size()) << "events that were refused became visible";
}

}  // namespace
}  // namespace inlet::testing
