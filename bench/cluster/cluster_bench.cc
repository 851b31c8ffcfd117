// bench_cluster: events/s through the whole pipeline (ingest, delivery to the
// raw lake, processing) scaled out on a 3-node NATS JetStream cluster (R3)
// and Ceph radosgw, with 1 and then 2 processes per role, all on this
// machine; the baseline is the embedded single process (`inlet run`, local
// log and lake) in the same run. A run sends load for --seconds, then waits
// until delivery and processing have committed every acknowledged event
// (read from the processes' /metrics); throughput = acknowledged events /
// time from the first request until the last of them was committed.
//   bench_cluster [--seconds N]
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "http/http_client.h"
#include "loadgen/load_generator.h"
#include "support/nats_cluster.h"
#include "support/radosgw.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using inlet::testing::Child;
using Clock = std::chrono::steady_clock;

const char* kKeyHash = "b52ee8b50c13e856297a615fbd824a2e6953ae6ca395896cad60587fe2e5de7b";

std::string Config(const fs::path& dir, const std::string& scale_out) {
  return std::string("server: {listen: 127.0.0.1:8080, auth: true}\nstorage: {data_dir: ") +
         dir.string() + "}\napi_keys:\n  bench: {sha256: " + kKeyHash +
         ", scopes: [\"publish:*\", query]}\n" + R"(tables:
  raw.events:
    columns:
      - {name: event_id, type: string, required: true}
      - {name: user_id, type: string, required: true}
      - {name: ts, type: timestamp, required: true}
      - {name: lat, type: double, required: true}
      - {name: lon, type: double, required: true}
topics:
  events: {partitions: 4, partition_key: user_id}
subscriptions:
  raw-delivery: {topic: events}
  processing: {topic: events}
delivery_streams:
  raw-events: {subscription: raw-delivery, table: raw.events, buffer_interval: 5s, idle_flush: 1s}
processors:
  presence:
    subscription: processing
    table: raw.events
    mapping: {event_id: $.event_id, user_id: $.user_id, ts: $.ts, lat: $.lat, lon: $.lon}
    masking:
      key_env: INLET_PSEUDONYM_KEY
      rules: [{column: user_id, op: pseudonym}]
    aggregate: {poi_file: pois.csv, window: 10s, allowed_lateness: 5s, idle_close: 2s}
)" + scale_out;
}

// Sum of every sample of `metric` in a Prometheus text page.
double SumMetric(const std::string& page, const std::string& metric) {
  double sum = 0;
  size_t pos = 0;
  while ((pos = page.find("\n" + metric, pos)) != std::string::npos) {
    const size_t eol = page.find('\n', pos + 1);
    const std::string line = page.substr(pos + 1, eol - pos - 1);
    const char next = line.size() > metric.size() ? line[metric.size()] : ' ';
    if (next == '{' || next == ' ') sum += std::atof(line.substr(line.rfind(' ') + 1).c_str());
    pos = eol;
  }
  return sum;
}

struct Proc {
  std::unique_ptr<Child> child;
  int port;
};

double Scrape(const std::vector<Proc>& procs, const std::string& metric) {
  double sum = 0;
  for (const auto& p : procs) {
    inlet::http::HttpClient c("127.0.0.1", static_cast<uint16_t>(p.port), std::chrono::seconds(5));
    auto r = c.Request("GET", "/metrics");
    if (r.ok()) sum += SumMetric("\n" + r->body, metric);
  }
  return sum;
}

bool WaitReady(int port) {
  for (int i = 0; i < 600; ++i) {
    inlet::http::HttpClient c("127.0.0.1", static_cast<uint16_t>(port), std::chrono::seconds(2));
    auto r = c.Request("GET", "/readyz");
    if (r.ok() && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

struct Result {
  double acked = 0, seconds = 0, ingest_eps = 0, pipeline_eps = 0;
};

// Runs load against `ingest` ports and waits for `workers` to commit it all.
Result Measure(const std::vector<int>& ingest, const std::vector<Proc>& workers, double seconds) {
  Result r;
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  std::vector<uint64_t> acked(ingest.size());
  for (size_t i = 0; i < ingest.size(); ++i) {
    threads.emplace_back([&, i] {
      inlet::loadgen::LoadOptions o;
      o.port = static_cast<uint16_t>(ingest[i]);
      o.api_key = "inlet-local-dev-key";
      o.batch = 500;
      o.connections = static_cast<uint32_t>(8 / ingest.size());
      o.duration = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
      o.id_prefix = "i" + std::to_string(i);
      o.payload_template =
          R"({"event_id":"{{id}}","user_id":"{{user}}","ts":"{{ts}}","lat":40.7581,"lon":-73.9856})";
      auto rep = inlet::loadgen::RunLoad(o);
      if (rep.ok()) acked[i] = rep->events_acked;
    });
  }
  for (auto& t : threads) t.join();
  const double load_s = std::chrono::duration<double>(Clock::now() - start).count();
  for (uint64_t a : acked) r.acked += static_cast<double>(a);
  r.ingest_eps = r.acked / load_s;
  // Committed: rows in the raw lake and events through the processor.
  for (int i = 0; i < 1200; ++i) {
    const double rows = Scrape(workers, "inlet_delivery_rows_total");
    const double processed = Scrape(workers, "inlet_process_events_accepted_total") +
                             Scrape(workers, "inlet_process_events_rejected_total");
    if (rows >= r.acked && processed >= r.acked) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.pipeline_eps = r.acked / r.seconds;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 20;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
  }
  if (inlet::testing::NatsCluster::ServerBinary().empty() ||
      !inlet::testing::RadosGateway::Installed()) {
    std::printf("bench_cluster: nats-server or Ceph radosgw is not installed; skipped\n");
    return 0;
  }
  setenv("INLET_PSEUDONYM_KEY", "0123456789abcdef0123456789abcdef", 1);
  inlet::testing::TempDir tmp;
  const fs::path dir = tmp.path();
  inlet::testing::WriteFile(dir / "pois.csv",
                            "id,name,lat,lon,radius_m,category\nts,Times Square,40.7580,-73.9855,"
                            "200,landmark\n");

  // Baseline: the embedded single process.
  Result base;
  {
    inlet::testing::WriteFile(dir / "embedded.yaml", Config(dir / "embedded", ""));
    const int port = inlet::testing::FreePort();
    std::vector<Proc> procs;
    procs.push_back(
        {std::make_unique<Child>(
             std::vector<std::string>{INLET_BINARY, "run", (dir / "embedded.yaml").string(),
                                      "--listen", "127.0.0.1:" + std::to_string(port)},
             dir / "embedded.log"),
         port});
    if (!WaitReady(port)) return std::fprintf(stderr, "embedded inlet did not start\n"), 1;
    base = Measure({port}, procs, seconds);
  }

  auto nats = inlet::testing::NatsCluster::Start(dir / "nats", 3);
  if (!nats.ok()) return std::fprintf(stderr, "%s\n", nats.status().ToString().c_str()), 1;
  auto s3 = inlet::testing::RadosGateway::Start(dir / "s3");
  if (!s3.ok()) return std::fprintf(stderr, "%s\n", s3.status().ToString().c_str()), 1;
  setenv("AWS_ACCESS_KEY_ID", (*s3)->access_key().c_str(), 1);
  setenv("AWS_SECRET_ACCESS_KEY", (*s3)->secret_key().c_str(), 1);
  std::string servers;
  for (const auto& u : (*nats)->urls()) servers += (servers.empty() ? "" : ", ") + u;

  Result scaled[2];
  for (int per_role = 1; per_role <= 2; ++per_role) {
    const std::string prefix = "b" + std::to_string(per_role) + std::to_string(getpid());
    const std::string cfg = Config(dir / ("cluster" + std::to_string(per_role)),
                                   "bus: {type: jetstream, jetstream: {servers: [" + servers +
                                       "], stream_prefix: " + prefix + ", replicas: 3}}\n");
    // The S3 section replaces the local lake.
    std::string text = cfg;
    const fs::path file = dir / ("cluster" + std::to_string(per_role) + ".yaml");
    text.insert(text.find('}', text.find("storage: {")), ", s3: {endpoint: " + (*s3)->endpoint() +
                                                             ", bucket: lake-" + prefix +
                                                             ", create_bucket: true}");
    inlet::testing::WriteFile(file, text);
    std::vector<Proc> workers;
    std::vector<std::unique_ptr<Child>> ingest_children;
    std::vector<int> ingest_ports;
    auto launch = [&](const std::string& role, int n) {
      const int port = inlet::testing::FreePort();
      const std::string name = role + std::to_string(per_role) + "-" + std::to_string(n);
      auto child = std::make_unique<Child>(
          std::vector<std::string>{INLET_BINARY, role, file.string(), "--listen",
                                   "127.0.0.1:" + std::to_string(port), "--data-dir",
                                   (dir / name).string(), "--worker-id", name},
          dir / (name + ".log"));
      if (!WaitReady(port)) {
        std::fprintf(stderr, "%s did not start:\n%s\n", name.c_str(), child->Log().c_str());
        std::exit(1);
      }
      return Proc{std::move(child), port};
    };
    workers.push_back(launch("serve", 1));  // creates the streams and the bucket
    for (int n = 1; n <= per_role; ++n) {
      Proc p = launch("ingest", n);
      ingest_ports.push_back(p.port);
      ingest_children.push_back(std::move(p.child));
      workers.push_back(launch("deliver", n));
      workers.push_back(launch("process", n));
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));  // partitions assigned
    scaled[per_role - 1] = Measure(ingest_ports, workers, seconds);
  }

  std::printf("\nwhole pipeline (ingest + raw lake + processing), %.0f s of load\n", seconds);
  std::printf("%-34s %14s %14s %10s\n", "setup", "ingest ev/s", "pipeline ev/s", "vs base");
  std::printf("%-34s %14.0f %14.0f %10s\n", "embedded, one process (baseline)", base.ingest_eps,
              base.pipeline_eps, "1.00x");
  const char* names[] = {"JetStream R3 + S3, 1 per role", "JetStream R3 + S3, 2 per role"};
  const char* metrics[] = {"pipeline_1_per_role", "pipeline_2_per_role"};
  for (int i = 0; i < 2; ++i) {
    std::printf("%-34s %14.0f %14.0f %9.2fx\n", names[i], scaled[i].ingest_eps,
                scaled[i].pipeline_eps, scaled[i].pipeline_eps / base.pipeline_eps);
  }
  for (int i = 0; i < 2; ++i) {
    std::printf(
        "BENCH {\"bench\":\"cluster\",\"metric\":\"%s\",\"value\":%.0f,\"unit\":\"events/s\","
        "\"baseline_metric\":\"pipeline_embedded\",\"baseline\":%.0f,\"ratio\":%.3f}\n",
        metrics[i], scaled[i].pipeline_eps, base.pipeline_eps,
        scaled[i].pipeline_eps / base.pipeline_eps);
  }
  return 0;
}
