// Crash test: producers send events with unique ids while inlet is killed
// with SIGKILL at random moments and restarted, 20 times; garbage is also
// appended to the log tail between some runs. Afterwards every acknowledged
// id must be readable from every subscription.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>
#include <random>
#include <set>

#include "loadgen/load_generator.h"
#include "support/pipeline_checks.h"

namespace inlet::testing {
namespace {
namespace fs = std::filesystem;

const char* kTopology = R"(topics:
  events: {segment_bytes: 4MiB}
subscriptions:
  s1: {topic: events}
  s2: {topic: events}
  s3: {topic: events}
)";

fs::path LastSegment(const fs::path& dir) {
  fs::path last;
  for (auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".log" && (last.empty() || e.path() > last)) last = e.path();
  }
  return last;
}

std::set<std::string> ReceiveAllIds(InletProcess& inlet, const std::string& sub) {
  std::set<std::string> ids;
  simdjson::dom::parser p;
  for (;;) {
    auto r = inlet.Post("/v1/subscriptions/" + sub + "/receive", R"({"max_messages": 10000})");
    EXPECT_TRUE(r.ok() && r->status == 200);
    if (!r.ok()) break;
    simdjson::dom::array msgs = p.parse(r->body)["messages"];
    if (msgs.size() == 0) break;
    std::string handles;
    for (auto m : msgs) {
      ids.insert(std::string(std::string_view(m["body"]["event_id"])));
      handles += (handles.empty() ? "\"" : ",\"") +
                 std::string(std::string_view(m["receipt_handle"])) + "\"";
    }
    auto a =
        inlet.Post("/v1/subscriptions/" + sub + "/ack", "{\"receipt_handles\":[" + handles + "]}");
    EXPECT_TRUE(a.ok() && a->status == 200);
  }
  return ids;
}

TEST(IngestCrashTest, EveryAcknowledgedEventSurvivesSigkillAndATornTail) {
  TempDir dir;
  const int port = FreePort();
  const std::string config = TestConfig(port, dir.path() / "data", kTopology);
  IdLedger ledger;
  std::mt19937 rng(12345);
  size_t garbage_rounds = 0;
  auto load = [&](int round, std::atomic<bool>* stop) {
    loadgen::LoadOptions o;
    o.port = static_cast<uint16_t>(port);
    o.api_key = kTestKey;
    o.batch = 50 + round * 10;
    o.connections = 6;
    o.duration = std::chrono::seconds(30);
    o.payload_template = R"({"event_id":"{{id}}","n":{{seq}},"pad":"{{rand}}"})";
    o.id_prefix = "r" + std::to_string(round);
    o.stop = stop;
    ledger.Attach(&o);
    (void)loadgen::RunLoad(o);
  };
  auto tear_tail = [&](int round) {
    if (round % 4 != 3) return;
    // A torn write: junk after the last complete record.
    const fs::path seg = LastSegment(dir.path() / "data" / "log" / "topics" / "events");
    std::ofstream out(seg, std::ios::binary | std::ios::app);
    std::string junk(1 + rng() % 300, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    out << junk;
    ++garbage_rounds;
  };
  const KillPlan plan{.rounds = 20,
                      .seed = 12345,
                      .min_up = std::chrono::milliseconds(150),
                      .spread = std::chrono::milliseconds(700)};
  ASSERT_TRUE(KillRepeatedly(dir.path(), config, port, plan, load, tear_tail));
  const std::set<std::string>& acked = ledger.acked();
  ASSERT_GT(acked.size(), 1000u)
      << "the load generator got too few acknowledgements to prove anything";
  EXPECT_EQ(garbage_rounds, 5u);

  InletProcess inlet(dir.path(), config, port);
  ASSERT_TRUE(inlet.WaitReady()) << inlet.Log();
  for (const char* sub : {"s1", "s2", "s3"}) {
    const std::set<std::string> ids = ReceiveAllIds(inlet, sub);
    size_t missing = 0;
    std::string example;
    for (const auto& id : acked) {
      if (!ids.count(id)) {
        if (missing++ == 0) example = id;
      }
    }
    EXPECT_EQ(missing, 0u) << sub << ": " << missing << " of " << acked.size()
                           << " acknowledged events are missing, e.g. " << example;
    EXPECT_GE(ids.size(), acked.size());
  }
  std::printf("%zu acknowledged events over 20 SIGKILLs, all present in 3 subscriptions\n",
              acked.size());
}

}  // namespace
}  // namespace inlet::testing
