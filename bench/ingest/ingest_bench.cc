// bench/ingest: durable ingest throughput and ack latency of the real inlet
// binary over loopback HTTP, next to the disk's own floor measured in the same
// run: the same bytes appended and fdatasync'd in the same batch sizes by a
// minimal loop. The load generator runs in this process, on the same cores.
//
//   bench_ingest [--seconds N]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "http/http_client.h"
#include "loadgen/load_generator.h"
#include "support/inlet_server.h"

namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

void Bench(const char* metric, double value, const char* unit, const char* baseline_metric,
           double baseline) {
  std::printf(
      "BENCH "
      "{\"bench\":\"ingest\",\"metric\":\"%s\",\"value\":%.1f,\"unit\":\"%s\",\"baseline_metric\":"
      "\"%s\","
      "\"baseline\":%.1f,\"ratio\":%.3f}\n",
      metric, value, unit, baseline_metric, baseline, baseline > 0 ? value / baseline : 0);
}

// Appends `batch` events of `event_bytes` and fdatasyncs, repeatedly.
double DiskFloor(const fs::path& dir, int batch, size_t event_bytes, double seconds) {
  const fs::path file = dir / "floor.bin";
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::string buf(batch * (event_bytes + 30), 'x');  // + framing, as the log writes
  uint64_t events = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size())) break;
    ::fdatasync(fd);
    events += batch;
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  fs::remove(file);
  return events / secs;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 10;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
  }
  const fs::path dir =
      fs::temp_directory_path() / ("inlet-bench-ingest-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const int port = 20000 + getpid() % 20000;
  {
    std::ofstream cfg(dir / "inlet.yaml");
    cfg << "server:\n  listen: 127.0.0.1:" << port << "\n  auth: false\n  io_threads: 2\n"
        << "storage:\n  data_dir: " << (dir / "data").string() << "\n"
        << "topics:\n  events: {retention: 0s}\nsubscriptions:\n  s: {topic: events}\n";
  }
  auto server = std::make_unique<inlet::bench::InletServer>(INLET_BINARY, dir / "inlet.yaml",
                                                            dir / "inlet.log", port);

  const std::string tmpl = inlet::loadgen::DefaultTemplate();
  std::printf(
      "inlet ingest benchmark: %.0f s per run, events of ~%zu bytes, loopback, load generator on "
      "the same "
      "cores\n\n",
      seconds, tmpl.size());
  auto run = [&](uint32_t batch, uint32_t connections, double rate) {
    inlet::loadgen::LoadOptions o;
    o.port = static_cast<uint16_t>(port);
    o.batch = batch;
    o.connections = connections;
    o.rate = rate;
    o.duration = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    return inlet::loadgen::RunLoad(o).value();
  };

  // NDJSON batches of 500 events.
  const double floor_batch = DiskFloor(dir, 500, tmpl.size(), seconds / 2);
  auto batch = run(500, 8, 0);
  std::printf("batches of 500, 8 connections:   %s\n", batch.Summary().c_str());
  std::printf("disk floor, 500 events per fsync: %.0f events/s\n", floor_batch);
  auto half = run(500, 8, batch.events_per_second() / 2);
  std::printf("batches at half that load:       %s\n", half.Summary().c_str());

  // Single-event requests over 64 keep-alive connections.
  const double floor_single = DiskFloor(dir, 1, tmpl.size(), seconds / 2);
  auto single = run(1, 64, 0);
  std::printf("single events, 64 connections:   %s\n", single.Summary().c_str());
  std::printf("disk floor, 1 event per fsync:   %.0f events/s\n\n", floor_single);
  auto single_half = run(1, 64, single.events_per_second() / 2);
  std::printf("single events at half that load: %s\n\n", single_half.Summary().c_str());

  Bench("batch500_events_per_s", batch.events_per_second(), "events/s", "disk_floor_500_per_fsync",
        floor_batch);
  Bench("batch500_MB_per_s", batch.mb_per_second(), "MB/s", "disk_floor_500_per_fsync_MB_per_s",
        floor_batch * (tmpl.size() + 30) / 1e6);
  Bench("batch500_p99_ack_ms_at_half_load", half.p99_ms, "ms", "target_10ms", 10);
  Bench("single_requests_per_s", single.events_per_second(), "requests/s", "disk_floor_1_per_fsync",
        floor_single);
  Bench("single_p99_ack_ms_at_half_load", single_half.p99_ms, "ms", "target_10ms", 10);

  server.reset();
  fs::remove_all(dir);
  return batch.events_acked > 0 && single.events_acked > 0 ? 0 : 1;
}
