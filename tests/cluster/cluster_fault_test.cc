// inlet scaled out, under faults: a 3-node NATS JetStream cluster (R3
// stream), Ceph radosgw as the S3 lake (signatures checked), one `inlet
// serve` and two processes each of `inlet ingest`, `inlet deliver` and
// `inlet process` on loopback. Producers send to both ingest processes and
// record what was acknowledged. Under load the test SIGKILLs the stream's
// leader and one process of every role, twice, and restarts them. Then, over
// the lake downloaded from S3 with DuckDB:
// - raw lake: every acknowledged event exactly once, nothing never sent;
// - curated/events: every acknowledged event once (or, if late, once in
//   errors/late_event);
// - poi_presence: per window, the sum over the partitions' rows equals the
//   curated events and their distinct persons: counted exactly once.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <deque>
#include <random>
#include <thread>

#include "bus/jetstream_bus.h"
#include "http/http_client.h"
#include "lake/lake_mirror.h"
#include "storage/s3_object_store.h"
#include "support/duckdb_query.h"
#include "support/nats_cluster.h"
#include "support/pipeline_checks.h"
#include "support/radosgw.h"

namespace inlet::testing {
namespace {
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kBody = std::string(kLocationEventsTable) + R"(topics:
  events: {partitions: 4, partition_key: user_id}
subscriptions:
  raw-delivery: {topic: events, visibility_timeout: 60s}
  processing: {topic: events, visibility_timeout: 30s}
delivery_streams:
  raw-events:
    subscription: raw-delivery
    table: raw.events
    buffer_interval: 2s
    buffer_size: 1MiB
    idle_flush: 1s
)" + kPresenceProcessorHead +
                          R"(    masking:
      key_env: INLET_PSEUDONYM_KEY
      key_id: cluster-1
      rules:
        - {column: user_id, op: pseudonym}
    aggregate:
      poi_file: pois.csv
      window: 2s
      allowed_lateness: 1s
      idle_close: 2s
    workers: {fetch_max_messages: 500, fetch_wait: 50ms}
)";

// One inlet process of a role, restartable.
struct RoleProcess {
  std::string role;
  int n = 0;
  int port = 0;
  std::unique_ptr<Child> child;
  std::string name() const { return role + "-" + std::to_string(n); }
};

class ClusterFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (NatsCluster::ServerBinary().empty()) GTEST_SKIP() << "nats-server is not installed";
    if (!RadosGateway::Installed())
      GTEST_SKIP() << "Ceph radosgw is not installed (scripts/bootstrap installs it)";
    auto nats = NatsCluster::Start(dir_.path() / "nats", 3);
    ASSERT_TRUE(nats.ok()) << nats.status().ToString();
    nats_ = std::move(*nats);
    auto s3 = RadosGateway::Start(dir_.path() / "s3");
    ASSERT_TRUE(s3.ok()) << s3.status().ToString();
    s3_ = std::move(*s3);
    setenv("AWS_ACCESS_KEY_ID", s3_->access_key().c_str(), 1);
    setenv("AWS_SECRET_ACCESS_KEY", s3_->secret_key().c_str(), 1);
    setenv("INLET_PSEUDONYM_KEY", "0123456789abcdef0123456789abcdef", 1);
    std::random_device rd;
    prefix_ = "t" + std::to_string(rd() % 1000000);
    std::string servers;
    for (const auto& url : nats_->urls()) servers += (servers.empty() ? "" : ", ") + url;
    WriteFile(dir_.path() / "pois.csv",
              "id,name,lat,lon,radius_m,category\nts,Times Square,40.7580,-73.9855,200,landmark\n");
    config_ = TestConfig(FreePort(), dir_.path() / "data", kBody) +
              "bus:\n  type: jetstream\n  jetstream:\n    servers: [" + servers +
              "]\n    stream_prefix: " + prefix_ +
              "\n    replicas: 3\n    lease_ttl: 3s\n    publish_timeout: 2s\n"
              "storage:\n  data_dir: " +
              (dir_.path() / "data").string() + "\n  s3:\n    endpoint: " + s3_->endpoint() +
              "\n    bucket: lake-" + prefix_ +
              "\n    create_bucket: true\n    mirror_interval: 1s\n";
    // TestConfig has its own storage: section; the last one would win, so drop it.
    const size_t storage = config_.find("storage:\n");
    const size_t next = config_.find("\n", config_.find("data_dir:", storage));
    config_.erase(storage, next + 1 - storage);
    WriteFile(dir_.path() / "inlet.yaml", config_);
  }

  void TearDown() override {
    for (auto& p : procs_) {
      if (p.child && p.child->Running()) p.child->Kill(SIGKILL);
    }
  }

  RoleProcess& Add(const std::string& role, int n) {
    procs_.push_back({role, n, FreePort(), nullptr});
    return procs_.back();
  }

  void Launch(RoleProcess& p) {
    p.child = std::make_unique<Child>(
        std::vector<std::string>{InletBinary().string(), p.role,
                                 (dir_.path() / "inlet.yaml").string(), "--listen",
                                 "127.0.0.1:" + std::to_string(p.port), "--data-dir",
                                 (dir_.path() / p.name()).string(), "--worker-id", p.name()},
        dir_.path() / (p.name() + ".log"));
  }

  bool WaitReady(RoleProcess& p, seconds timeout = seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!p.child->Running()) break;
      http::HttpClient client("127.0.0.1", static_cast<uint16_t>(p.port), seconds(2));
      auto r = client.Request("GET", "/readyz");
      if (r.ok() && r->status == 200) return true;
      std::this_thread::sleep_for(milliseconds(100));
    }
    ADD_FAILURE() << p.name() << " did not get ready:\n" << p.child->Log();
    return false;
  }

  // Downloads the data files of the S3 lake into `into`.
  void DownloadLake(const fs::path& into) {
    storage::S3Options o;
    o.endpoint = s3_->endpoint();
    o.bucket = "lake-" + prefix_;
    o.access_key_id = s3_->access_key();
    o.secret_access_key = s3_->secret_key();
    auto store = storage::S3ObjectStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    lake::LakeMirror mirror(store->get(), into);
    auto st = mirror.SyncOnce();
    ASSERT_TRUE(st.ok()) << st.status().ToString();
  }

  TempDir dir_;
  std::unique_ptr<NatsCluster> nats_;
  std::unique_ptr<RadosGateway> s3_;
  std::string prefix_;
  std::string config_;
  std::deque<RoleProcess> procs_;
};

TEST_F(ClusterFaultTest, KillingTheStreamLeaderAndOneProcessPerRoleLosesAndDuplicatesNothing) {
  RoleProcess& serve = Add("serve", 1);
  Launch(serve);
  ASSERT_TRUE(WaitReady(serve)) << "the first process creates the streams and the bucket";
  std::vector<RoleProcess*> ingest, workers;
  for (const char* role : {"ingest", "deliver", "process"}) {
    for (int n = 1; n <= 2; ++n) {
      RoleProcess& p = Add(role, n);
      Launch(p);
      (std::string(role) == "ingest" ? ingest : workers).push_back(&p);
    }
  }
  for (auto& p : procs_) ASSERT_TRUE(WaitReady(p));

  // Producers: one per ingest process, retrying refused batches; an id whose
  // request died with its ingest process is "unknown" (may or may not be kept).
  IdLedger ledger;
  std::atomic<bool> stop{false};
  std::vector<std::thread> producers;
  for (int i = 0; i < 2; ++i) {
    producers.emplace_back([&, i] {
      for (int round = 0; !stop.load(); ++round) {
        loadgen::LoadOptions o;
        o.port = static_cast<uint16_t>(ingest[i]->port);
        o.api_key = kTestKey;
        o.batch = 100;
        o.connections = 2;
        o.rate = 1500;
        o.duration = seconds(120);
        o.payload_template =
            R"({"event_id":"{{id}}","user_id":"{{user}}","ts":"{{ts}}","lat":40.7581,"lon":-73.9856,"n":{{seq}}})";
        o.id_prefix = "p" + std::to_string(i) + "r" + std::to_string(round);
        o.idempotency_keys = true;  // a retried 5xx stores nothing twice
        o.stop = &stop;
        ledger.Attach(&o);
        (void)loadgen::RunLoad(o);  // returns when its ingest process died: start again
        if (!stop.load()) std::this_thread::sleep_for(milliseconds(200));
      }
    });
  }

  std::mt19937 rng(2026);
  std::printf("stream prefix %s, kill seed 2026\n", prefix_.c_str());
  for (int round = 0; round < 2; ++round) {
    std::this_thread::sleep_for(seconds(4));
    bus::JetStreamConfig js;
    js.stream_prefix = prefix_;
    auto leader = nats_->LeaderOf(bus::JetStreamBus::StreamName(js, "events"));
    ASSERT_TRUE(leader.ok()) << leader.status().ToString();
    std::vector<RoleProcess*> victims = {ingest[rng() % 2], workers[rng() % 2],
                                         workers[2 + rng() % 2]};
    std::printf("round %d: SIGKILL nats node %d (stream leader), %s, %s, %s\n", round, *leader,
                victims[0]->name().c_str(), victims[1]->name().c_str(), victims[2]->name().c_str());
    ASSERT_TRUE(nats_->Kill(*leader).ok());
    for (auto* v : victims) {
      v->child->Kill(SIGKILL);
      v->child->Wait();
    }
    std::this_thread::sleep_for(seconds(2));
    ASSERT_TRUE(nats_->Restart(*leader).ok());
    for (auto* v : victims) {
      Launch(*v);
      ASSERT_TRUE(WaitReady(*v));
    }
    // One failure at a time, as R3 promises: the restarted node catches up
    // before the next round kills another.
    Status current = nats_->WaitCurrent(bus::JetStreamBus::StreamName(js, "events"), seconds(60));
    ASSERT_TRUE(current.ok()) << current.ToString();
  }
  std::this_thread::sleep_for(seconds(4));
  stop = true;
  for (auto& t : producers) t.join();
  ASSERT_GT(ledger.acked().size(), 5000u);

  // Let every partition drain (a killed owner's partitions move after
  // lease_ttl) and every window close (idle_close), then stop cleanly.
  std::this_thread::sleep_for(seconds(8));
  double open_windows = -1;
  for (int i = 0; i < 120 && open_windows != 0; ++i) {
    open_windows = 0;
    int partitions = 0;
    for (auto* w : workers) {
      if (w->role != "process") continue;
      http::HttpClient client("127.0.0.1", static_cast<uint16_t>(w->port), seconds(5));
      auto r = client.Request("GET", "/metrics");
      if (!r.ok()) continue;
      for (size_t pos = 0;
           (pos = r->body.find("\ninlet_process_open_windows{", pos)) != std::string::npos;) {
        const size_t eol = r->body.find('\n', pos + 1);
        const std::string line = r->body.substr(pos + 1, eol - pos - 1);
        open_windows += std::stod(line.substr(line.rfind(' ') + 1));
        ++partitions;
        pos = eol;
      }
    }
    if (partitions < 4) open_windows = -1;  // not every partition is owned yet
    if (open_windows != 0) std::this_thread::sleep_for(milliseconds(500));
  }
  EXPECT_EQ(open_windows, 0) << "windows still open (or partitions unowned) 68 s after the load";
  for (auto& p : procs_) p.child->Kill(SIGTERM);
  for (auto& p : procs_) EXPECT_EQ(p.child->Wait(), 0) << p.name() << ":\n" << p.child->Log();

  const fs::path lake = dir_.path() / "downloaded";
  DownloadLake(lake);
  const IdCounts raw = CountIds(lake / "raw" / "events", "event_id");
  ExpectExactlyOnce(raw, ledger.acked(), ledger.unknown(), "raw lake on S3");

  const IdCounts curated = CountIds(lake / "curated" / "events", "event_id");
  const IdCounts late =
      CountIds(lake / "errors" / "late_event", "json_extract_string(payload, '$.event_id')");
  IdCounts outputs = curated;
  AddCounts(&outputs, late);
  ExpectExactlyOnce(outputs, ledger.acked(), ledger.unknown(), "curated/events + late events");

  // Each partition's processor writes its share of a window; every person is
  // in one partition, so the sums per window equal the curated events.
  const std::string events = ParquetScan(lake / "curated" / "events");
  const std::string presence = ParquetScan(lake / "curated" / "poi_presence");
  ExpectSameRows("SELECT window_start, sum(events), sum(persons) FROM " + presence +
                     " WHERE poi_id = 'ts' GROUP BY 1",
                 "SELECT time_bucket(INTERVAL 2 seconds, ts), count(*), count(DISTINCT user_id) "
                 "FROM " +
                     events + " GROUP BY 1",
                 "poi_presence windows (summed over partitions) against the curated events");
  std::printf("acknowledged %zu, unknown %zu, raw %zu, curated %zu, late %zu\n",
              ledger.acked().size(), ledger.unknown().size(), raw.size(), curated.size(),
              late.size());
}

}  // namespace
}  // namespace inlet::testing
