// Publish throughput of the JetStream bus: batches of 500 small events (as
// the ingest publishes them) to an R1 and an R3 stream of a 3-node cluster on
// loopback, with 1 and 8 batches in flight (HTTP threads publishing
// concurrently). Baseline, in the same run: the embedded bus (fsync'd
// segment log) with the same batches. Prints a table and BENCH lines.
//
//   bench_jetstream [--batches N]   (batches per measurement, default 200)
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "bus/embedded_bus.h"
#include "bus/jetstream_bus.h"
#include "support/nats_cluster.h"
#include "support/test_support.h"

namespace {

using inlet::bus::OutgoingEvent;
using inlet::bus::SeqRange;
using Clock = std::chrono::steady_clock;

constexpr int kBatchSize = 500;

std::vector<OutgoingEvent> Batch(int b) {
  std::vector<OutgoingEvent> events;
  events.reserve(kBatchSize);
  for (int i = 0; i < kBatchSize; ++i) {
    OutgoingEvent e;
    char buf[160];
    std::snprintf(
        buf, sizeof(buf),
        R"({"event_id":"e-%d-%d","user_id":"u-%d","type":"location","lat":40.7,"lon":-73.9})", b, i,
        (b * 31 + i) % 10000);
    e.payload = buf;
    e.key_id = "bench";
    events.push_back(std::move(e));
  }
  return events;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double last_cpu_us_per_event = 0;  // of this process (the servers excluded)

// Events per second publishing `batches` batches with `in_flight` outstanding.
double Measure(inlet::bus::Topic* topic, int batches, int in_flight) {
  const double cpu0 = CpuSeconds();
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0, failed = 0;
  std::string error;
  const auto start = Clock::now();
  for (int b = 0; b < batches; ++b) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return outstanding < in_flight; });
      ++outstanding;
    }
    topic->PublishAsync(Batch(b), [&](inlet::Result<SeqRange> r) {
      std::lock_guard lock(mu);
      --outstanding;
      if (!r.ok()) {
        ++failed;
        if (error.empty()) error = r.status().ToString();
      }
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return outstanding == 0; });
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  last_cpu_us_per_event = (CpuSeconds() - cpu0) * 1e6 / (batches * kBatchSize);
  if (failed > 0) std::fprintf(stderr, "%d batches failed: %s\n", failed, error.c_str());
  return batches * kBatchSize / s;
}

void Bench(const char* metric, double value, const char* baseline_metric, double baseline) {
  std::printf(
      "BENCH {\"bench\":\"jetstream\",\"metric\":\"%s\",\"value\":%.0f,\"unit\":\"events/s\","
      "\"baseline_metric\":\"%s\",\"baseline\":%.0f,\"ratio\":%.3f}\n",
      metric, value, baseline_metric, baseline, value / baseline);
}

}  // namespace

int main(int argc, char** argv) {
  int batches = 200;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--batches") == 0) batches = std::atoi(argv[i + 1]);
  }
  if (inlet::testing::NatsCluster::ServerBinary().empty()) {
    std::printf("nats-server is not installed; skipping\n");
    return 0;
  }
  inlet::testing::TempDir dir;
  auto cluster = inlet::testing::NatsCluster::Start(dir.path() / "nats", 3);
  if (!cluster.ok()) {
    std::fprintf(stderr, "%s\n", cluster.status().ToString().c_str());
    return 1;
  }

  inlet::bus::EmbeddedBusConfig ec;
  ec.log_dir = dir.path() / "embedded";
  ec.topics.push_back({.name = "events"});
  auto embedded = inlet::bus::EmbeddedBus::Open(ec);
  if (!embedded.ok()) {
    std::fprintf(stderr, "%s\n", embedded.status().ToString().c_str());
    return 1;
  }
  inlet::bus::Topic* et = embedded.value()->FindTopic("events");
  Measure(et, 10, 8);  // warm up
  const double base1 = Measure(et, batches, 1);
  const double base8 = Measure(et, batches, 8);

  const double base8_cpu = last_cpu_us_per_event;
  std::printf("%-34s %14s %22s\n", "publish, batches of 500", "events/s", "client CPU us/event");
  std::printf("%-34s %14.0f\n", "embedded, 1 batch in flight", base1);
  std::printf("%-34s %14.0f %22.2f\n", "embedded, 8 batches in flight", base8, base8_cpu);
  for (int replicas : {1, 3}) {
    inlet::bus::JetStreamConfig jc;
    jc.servers = cluster.value()->urls();
    jc.stream_prefix = "bench" + std::to_string(replicas);
    jc.replicas = replicas;
    jc.topics.push_back({.name = "events"});
    auto bus = inlet::bus::JetStreamBus::Open(jc);
    if (!bus.ok()) {
      std::fprintf(stderr, "%s\n", bus.status().ToString().c_str());
      return 1;
    }
    inlet::bus::Topic* t = bus.value()->FindTopic("events");
    Measure(t, 10, 8);  // warm up
    const double one = Measure(t, batches, 1);
    const double one_cpu = last_cpu_us_per_event;
    const double eight = Measure(t, batches, 8);
    const double eight_cpu = last_cpu_us_per_event;
    const std::string name = "jetstream R" + std::to_string(replicas);
    std::printf("%-34s %14.0f %22.2f\n", (name + ", 1 in flight").c_str(), one, one_cpu);
    std::printf("%-34s %14.0f %22.2f\n", (name + ", 8 in flight").c_str(), eight, eight_cpu);
    const std::string r = "r" + std::to_string(replicas);
    Bench(("publish_" + r + "_1_in_flight").c_str(), one, "embedded_publish_1_in_flight", base1);
    Bench(("publish_" + r + "_8_in_flight").c_str(), eight, "embedded_publish_8_in_flight", base8);
    bus.value()->Close();
  }
  embedded.value()->Close();
  return 0;
}
