// Crash test of the raw lake: events with unique ids are ingested while inlet
// is killed with SIGKILL during delivery, 20 times. Afterwards, over the
// lake, count(*) = count(DISTINCT event_id), every acknowledged event is
// there, and nothing is there that was not sent.
#include <gtest/gtest.h>

#include "loadgen/load_generator.h"
#include "support/pipeline_checks.h"

namespace inlet::testing {
namespace {

const char* kConfig = R"(tables:
  raw.events:
    columns:
      - {name: event_id, type: string, required: true}
      - {name: n, type: bigint}
      - {name: pad, type: string}
topics:
  events: {segment_bytes: 8MiB}
subscriptions:
  raw-delivery: {topic: events, visibility_timeout: 60s}
delivery_streams:
  raw-events:
    subscription: raw-delivery
    table: raw.events
    buffer_interval: 1s
    buffer_size: 1MiB
    idle_flush: 1s
)";

TEST(DeliveryCrashTest, TheLakeHoldsEveryAcknowledgedEventExactlyOnceAfter20Kills) {
  TempDir dir;
  const int port = FreePort();
  const std::string config = TestConfig(port, dir.path() / "data", kConfig);
  IdLedger ledger;
  // Kill during delivery: after at least one flush interval most rounds.
  const KillPlan plan{.rounds = 20,
                      .seed = 777,
                      .min_up = std::chrono::milliseconds(300),
                      .spread = std::chrono::milliseconds(2000)};
  auto load = [&](int round, std::atomic<bool>* stop) {
    loadgen::LoadOptions o;
    o.port = static_cast<uint16_t>(port);
    o.api_key = kTestKey;
    o.batch = 200;
    o.connections = 4;
    o.duration = std::chrono::seconds(30);
    o.payload_template = R"({"event_id":"{{id}}","n":{{seq}},"pad":"{{rand}}"})";
    o.id_prefix = "r" + std::to_string(round);
    o.stop = stop;
    ledger.Attach(&o);
    (void)loadgen::RunLoad(o);
  };
  ASSERT_TRUE(KillRepeatedly(dir.path(), config, port, plan, load));
  ASSERT_GT(ledger.acked().size(), 10000u);

  // A last clean run delivers the backlog, then stops (final flush).
  {
    InletProcess inlet(dir.path(), config, port);
    ASSERT_TRUE(inlet.WaitReady()) << inlet.Log();
    std::string last;
    ASSERT_TRUE(WaitForDrained(inlet, "raw-delivery", std::chrono::seconds(120), &last))
        << "delivery did not catch up: " << last;
  }

  const IdCounts in_lake = CountIds(dir.path() / "data" / "lake" / "raw" / "events", "event_id");
  ExpectExactlyOnce(in_lake, ledger.acked(), ledger.unknown(), "raw lake");
  std::printf("lake: %zu distinct ids, %zu acknowledged, %zu in requests cut by SIGKILL\n",
              in_lake.size(), ledger.acked().size(), ledger.unknown().size());
}

}  // namespace
}  // namespace inlet::testing
