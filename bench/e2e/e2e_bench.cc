// bench/e2e: sustained load through the whole pipeline (ingest, delivery to
// the raw lake, and the processors the configuration declares) for at least
// 60 s. Reports events/s, ack latency, time from ack to the raw event being
// queryable in the lake (file commit time minus arrival), peak RSS and CPU
// per event; the baseline is the same load on ingest alone, in the same run.
//
// With --rate, the load is offered at that rate (events/s) instead of as
// fast as inlet acknowledges: the pipeline sustains a rate when the lake
// keeps up with it (ack -> queryable stays near the buffering interval).
// Also reports, per aggregate window, the time from the window's end to its
// poi_presence file (an event acknowledged at the window's start waits the
// window's length more).
//
//   bench_e2e [--seconds N] [--rate EVENTS_PER_S] [--config FILE]   (default: examples/inlet.yaml)
//             [--allowed-lateness D]   (replaces the aggregates' allowed_lateness, e.g. 1s)
#include <duckdb.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "http/http_client.h"
#include "loadgen/load_generator.h"
#include "support/inlet_server.h"

namespace {
namespace fs = std::filesystem;

void Bench(const char* metric, double value, const char* unit, const char* baseline_metric,
           double baseline) {
  std::printf(
      "BENCH "
      "{\"bench\":\"e2e\",\"metric\":\"%s\",\"value\":%.3f,\"unit\":\"%s\",\"baseline_metric\":\"%"
      "s\","
      "\"baseline\":%.3f,\"ratio\":%.3f}\n",
      metric, value, unit, baseline_metric, baseline, baseline > 0 ? value / baseline : 0);
}

struct ProcSample {
  uint64_t rss = 0;
  double cpu_s = 0;
};

ProcSample Sample(pid_t pid) {
  ProcSample s;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss = std::stoull(line.substr(6)) * 1024;
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), {});
  std::istringstream in(all.substr(all.rfind(')') + 2));
  std::string f;
  for (int i = 3; i <= 15; ++i) {
    in >> f;
    if (i == 14) s.cpu_s += std::stod(f) / sysconf(_SC_CLK_TCK);
    if (i == 15) s.cpu_s += std::stod(f) / sysconf(_SC_CLK_TCK);
  }
  return s;
}

struct Run {
  inlet::loadgen::LoadReport load;
  uint64_t peak_rss = 0;
  double cpu_s = 0;
  double load_end_s = 0;  // wall clock (seconds since the epoch) when the load stopped
  fs::path lake;
};

// Starts inlet on `config` (rewritten for a port and data dir), loads it.
Run RunPipeline(const std::string& config_text, const fs::path& config_dir, const fs::path& dir,
                double seconds, double rate, bool wait_for_lake) {
  const int port = 21000 + getpid() % 20000;
  std::string cfg = std::regex_replace(config_text, std::regex("listen: [^\\n]*"),
                                       "listen: 127.0.0.1:" + std::to_string(port));
  // The copy lives elsewhere: files the config names beside itself (the
  // POIs) are given by absolute path.
  cfg = std::regex_replace(cfg, std::regex("poi_file: ([^/\\s][^\\s]*)"),
                           "poi_file: " + (config_dir / "$1").string());
  cfg = std::regex_replace(cfg, std::regex("data_dir: [^\\n]*"),
                           "data_dir: " + (dir / "data").string());
  fs::create_directories(dir);
  std::ofstream(dir / "inlet.yaml") << cfg;
  inlet::bench::InletServer server(INLET_BINARY, dir / "inlet.yaml", dir / "inlet.log", port);
  const pid_t pid = server.pid();
  Run run;
  run.lake = dir / "data" / "lake";
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    while (!done) {
      run.peak_rss = std::max(run.peak_rss, Sample(pid).rss);
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  });
  inlet::loadgen::LoadOptions o;
  o.port = static_cast<uint16_t>(port);
  o.api_key = "inlet-local-dev-key";
  o.batch = 500;
  o.connections = 8;
  o.rate = rate;
  o.duration = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  run.load = inlet::loadgen::RunLoad(o).value();
  run.load_end_s =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  if (wait_for_lake) {  // until every subscription has caught up (or 120 s)
    for (int i = 0; i < 600; ++i) {
      inlet::http::HttpClient c("127.0.0.1", static_cast<uint16_t>(port));
      auto m = c.Request("GET", "/metrics");
      bool idle = m.ok();
      if (m.ok()) {
        std::regex re("inlet_subscription_backlog\\{subscription=\"([^\"]+)\"\\} ([0-9.e+]+)");
        for (std::sregex_iterator it(m->body.begin(), m->body.end(), re), end; it != end; ++it) {
          if ((*it)[1] != "dead-letters" && std::stod((*it)[2]) > 0) idle = false;
        }
      }
      if (idle) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  run.cpu_s = Sample(pid).cpu_s;
  done = true;
  sampler.join();
  return run;
}

struct Latency {
  double p50 = 0, p99 = 0;
  uint64_t n = 0;  // rows (or groups) measured
};

// p50 and p99 over the rows of read_parquet(<lake>/<table>/**) of `expr`,
// where f.mtime is the modification time of the row's file (seconds), over
// files written no later than `until` (seconds since the epoch; 0: all).
Latency FileLatency(const fs::path& table, const std::string& expr, const std::string& group_by,
                    double until = 0) {
  duckdb_database db;
  duckdb_connection con;
  duckdb_open(nullptr, &db);
  duckdb_connect(db, &con);
  duckdb_result res;
  std::string files = "CREATE TABLE f(filename VARCHAR, mtime DOUBLE); INSERT INTO f VALUES ";
  bool any = false;
  Latency out;
  if (!fs::is_directory(table)) return out;
  for (auto& e : fs::recursive_directory_iterator(table)) {
    if (e.path().extension() != ".parquet") continue;
    auto t = fs::last_write_time(e.path());
    double secs =
        std::chrono::duration<double>(std::chrono::file_clock::to_sys(t).time_since_epoch())
            .count();
    if (until > 0 && secs > until) continue;
    files +=
        std::string(any ? "," : "") + "('" + e.path().string() + "'," + std::to_string(secs) + ")";
    any = true;
  }
  if (any && duckdb_query(con, files.c_str(), nullptr) == DuckDBSuccess) {
    const std::string rows = "SELECT " + expr + " AS x FROM read_parquet('" + table.string() +
                             "/**/*.parquet', filename=true) r JOIN f USING (filename)" +
                             (group_by.empty() ? "" : " GROUP BY " + group_by);
    const std::string q =
        "SELECT quantile_cont(x, 0.5), quantile_cont(x, 0.99), count(*) FROM (" + rows + ")";
    if (duckdb_query(con, q.c_str(), &res) == DuckDBSuccess) {
      out.p50 = duckdb_value_double(&res, 0, 0);
      out.p99 = duckdb_value_double(&res, 1, 0);
      out.n = duckdb_value_uint64(&res, 2, 0);
    } else {
      std::fprintf(stderr, "latency query failed: %s\n", duckdb_result_error(&res));
    }
    duckdb_destroy_result(&res);
  }
  duckdb_disconnect(&con);
  duckdb_close(&db);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 60, rate = 0;
  std::string config_path = std::string(INLET_SOURCE_DIR) + "/examples/inlet.yaml";
  std::string lateness;  // --allowed-lateness D: replaces the aggregates' allowed_lateness
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--config") == 0) config_path = argv[i + 1];
    if (std::strcmp(argv[i], "--rate") == 0) rate = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--allowed-lateness") == 0) lateness = argv[i + 1];
  }
  std::ifstream in(config_path);
  std::string config((std::istreambuf_iterator<char>(in)), {});
  if (!lateness.empty()) {
    config = std::regex_replace(config, std::regex("allowed_lateness: [^\\s#]*"),
                                "allowed_lateness: " + lateness);
  }
  // The baseline: the same configuration with only its topics (no delivery streams or processors).
  std::string ingest_only =
      std::regex_replace(config, std::regex("\\n(delivery_streams|processors):[\\s\\S]*"), "\n");
  const fs::path dir = fs::temp_directory_path() / ("inlet-bench-e2e-" + std::to_string(getpid()));
  std::printf(
      "end-to-end benchmark: %s, %.0f s of load%s, NDJSON batches of 500, 8 connections\n\n",
      config_path.c_str(), seconds,
      rate > 0 ? (" at " + std::to_string(static_cast<long>(rate)) + " events/s").c_str() : "");
  const fs::path config_dir = fs::absolute(config_path).parent_path();
  Run base =
      RunPipeline(ingest_only, config_dir, dir / "baseline", std::min(seconds, 20.0), rate, false);
  std::printf("ingest only:     %s\n", base.load.Summary().c_str());
  Run full = RunPipeline(config, config_dir, dir / "full", seconds, rate, true);
  std::printf("whole pipeline:  %s\n", full.load.Summary().c_str());
  auto [p50, p99, raw_rows] =
      FileLatency(full.lake / "raw", "f.mtime - epoch(r._arrival_time)", "");
  // A window's file time minus the window's end, per window, over the windows
  // that the watermark closed while the load ran: once it stops, the last
  // windows close only after idle_close.
  auto [w50, w99, windows] =
      FileLatency(full.lake / "curated" / "poi_presence", "min(f.mtime) - epoch(r.window_end)",
                  "r.window_end", full.load_end_s);
  const double cpu_us_per_event =
      full.load.events_acked ? full.cpu_s / full.load.events_acked * 1e6 : 0;
  std::printf("ack -> queryable in the raw lake: p50 %.2f s, p99 %.2f s over %llu events\n", p50,
              p99, static_cast<unsigned long long>(raw_rows));
  if (windows > 0) {
    std::printf(
        "window end -> queryable in poi_presence: p50 %.2f s, p99 %.2f s over %llu windows "
        "closed during the load\n",
        w50, w99, static_cast<unsigned long long>(windows));
  } else {
    std::printf(
        "window end -> queryable in poi_presence: no window closed during the load (run for "
        "longer than the window plus allowed_lateness)\n");
  }
  std::printf("peak RSS %.0f MiB, CPU %.2f us per event (%.1f CPU-seconds)\n\n",
              full.peak_rss / 1048576.0, cpu_us_per_event, full.cpu_s);
  Bench("pipeline_events_per_s", full.load.events_per_second(), "events/s",
        "ingest_only_events_per_s", base.load.events_per_second());
  Bench("pipeline_ack_p99_ms", full.load.p99_ms, "ms", "ingest_only_ack_p99_ms", base.load.p99_ms);
  Bench("raw_lake_queryable_p50_s", p50, "s", "buffer_interval_s", 10);
  Bench("raw_lake_queryable_p99_s", p99, "s", "buffer_interval_s", 10);
  if (windows > 0) {
    Bench("presence_window_end_to_queryable_p50_s", w50, "s", "target_s", 2);
    Bench("presence_window_end_to_queryable_p99_s", w99, "s", "target_s", 2);
  }
  Bench("peak_rss_MiB", full.peak_rss / 1048576.0, "MiB", "target_MiB", 1024);
  Bench("cpu_us_per_event", cpu_us_per_event, "us", "ingest_only_cpu_us_per_event",
        base.load.events_acked ? base.cpu_s / base.load.events_acked * 1e6 : 0);
  fs::remove_all(dir);
  return full.load.events_acked > 0 ? 0 : 1;
}
