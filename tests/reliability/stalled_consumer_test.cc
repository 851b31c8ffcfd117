// A stalled consumer: a subscription that never acknowledges. The log grows
// up to the disk budget, then producers get 507 + Retry-After (back-pressure)
// while inlet's memory stays bounded; acknowledging lets ingest resume.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "support/inlet_process.h"

namespace inlet::testing {
namespace {

uint64_t RssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

TEST(StalledConsumerTest, BackPressureReachesProducersAndMemoryStaysBounded) {
  TempDir dir;
  const int port = FreePort();
  const std::string config =
      TestConfig(port, dir.path() / "data", R"(topics:
  events: {segment_bytes: 8MiB, retention: 0s}
subscriptions:
  stalled: {topic: events}
)",
                 "  disk_budget: 96MiB\n  max_pending_bytes: 16MiB\n  max_request_bytes: 2MiB\n");
  InletProcess inlet(dir.path(), config, port);
  ASSERT_TRUE(inlet.WaitReady()) << inlet.Log();
  std::string body;
  while (body.size() < (1u << 20)) body += "{\"pad\":\"" + std::string(1000, 'x') + "\"}\n";
  int status = 0, accepted = 0;
  uint64_t peak_rss = 0;
  for (int i = 0; i < 400 && status != 507; ++i) {
    auto r =
        inlet.Post("/v1/topics/events/events", body, {{"Content-Type", "application/x-ndjson"}});
    ASSERT_TRUE(r.ok());
    status = r->status;
    accepted += status == 200;
    peak_rss = std::max(peak_rss, RssBytes(inlet.pid()));
  }
  ASSERT_EQ(status, 507) << "no back-pressure after " << accepted << " MiB";
  EXPECT_GE(accepted, 60);
  EXPECT_LT(peak_rss, 256ull << 20) << "memory grew with the backlog";
  // The consumer catches up (acknowledges everything): retention frees the
  // segments and ingest resumes by itself.
  for (;;) {
    auto r = inlet.Post("/v1/subscriptions/stalled/receive", R"({"max_messages": 10000})");
    ASSERT_TRUE(r.ok() && r->status == 200);
    std::string handles;
    size_t pos = 0;
    while ((pos = r->body.find("\"receipt_handle\":\"", pos)) != std::string::npos) {
      pos += 18;
      handles += (handles.empty() ? "\"" : ",\"") +
                 r->body.substr(pos, r->body.find('"', pos) - pos) + "\"";
    }
    if (handles.empty()) break;
    ASSERT_EQ(
        inlet.Post("/v1/subscriptions/stalled/ack", "{\"receipt_handles\":[" + handles + "]}")
            ->status,
        200);
  }
  bool resumed = false;
  for (int i = 0; i < 50 && !resumed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    resumed = inlet.Post("/v1/topics/events/events", "{\"after\":1}")->status == 200;
  }
  EXPECT_TRUE(resumed);
}

}  // namespace
}  // namespace inlet::testing
