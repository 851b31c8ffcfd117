// AppSimulator: a built-in simulator of mobile app users for the demo. N
// people with realistic ages and genders walk or cycle between points of
// interest, dwell there, and send location events through the publish API in
// NDJSON batches; a small share of events is malformed or invalid so the
// error path shows. Simulated time may run faster than real time. Start/Stop
// from one thread; stats() is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

namespace inlet::loadgen {

struct Poi {
  std::string id;
  std::string name;
  double lat = 0;
  double lon = 0;
  double radius_m = 100;
};

// Reads points of interest from a CSV with a header naming id, name, lat, lon
// and optionally radius_m (the MTA station list's "Stop Name", "GTFS Latitude",
// "GTFS Longitude" columns are understood too).
Result<std::vector<Poi>> LoadPoiCsv(const std::filesystem::path& path);

struct SimulatorOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string topic = "events";
  std::string api_key;
  std::vector<Poi> pois;
  uint32_t persons = 2000;
  double events_per_second = 2000;  // real time, all people together
  double time_scale = 10;           // simulated seconds per real second
  double invalid_share = 0.01;      // malformed or invalid events
  uint32_t batch = 200;
  uint64_t seed = 42;
};

struct SimulatorStats {
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> rejected_at_ingest{0};  // malformed JSON refused by the API
  std::atomic<uint64_t> invalid_sent{0};        // well-formed but invalid for the schema
  std::atomic<uint64_t> failed_requests{0};
};

class AppSimulator {
 public:
  explicit AppSimulator(SimulatorOptions options);
  ~AppSimulator();  // Stop()
  void Start();
  void Stop();
  const SimulatorStats& stats() const { return stats_; }

 private:
  void Run();
  SimulatorOptions options_;
  SimulatorStats stats_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace inlet::loadgen
