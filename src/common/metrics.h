// Metrics in the Prometheus text format: counters, gauges and histograms,
// registered by name and labels, updated lock-free on hot paths, rendered on
// scrape. Collectors add values computed at scrape time (backlogs, sizes).
// Thread-safe; metrics live as long as the registry.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace inlet {

class Counter {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  void Add(double d) {
    double cur = v_.load(std::memory_order_relaxed);
    while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
    }
  }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Cumulative histogram with fixed upper bounds (seconds, bytes, ...).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  // Approximate quantile from the buckets (upper bound of the bucket).
  double Quantile(double q) const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  friend class MetricsRegistry;
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1 (+Inf)
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Latency buckets from 100 µs to 30 s.
std::vector<double> LatencyBuckets();

class MetricsRegistry {
 public:
  // `labels` is the Prometheus label text without braces: topic="events".
  Counter& GetCounter(const std::string& name, const std::string& help,
                      const std::string& labels = "");
  Gauge& GetGauge(const std::string& name, const std::string& help, const std::string& labels = "");
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          const std::string& labels = "",
                          std::vector<double> bounds = LatencyBuckets());

  // A collector appends samples at scrape time through `emit(name, help, type, labels, value)`.
  using Emit =
      std::function<void(const std::string& name, const std::string& help, const std::string& type,
                         const std::string& labels, double value)>;
  // Returns an id for RemoveCollector (for collectors of objects that go
  // away before the registry, such as the processors of a partition).
  uint64_t AddCollector(std::function<void(const Emit&)> collector);
  void RemoveCollector(uint64_t id);

  std::string Render() const;
  // Calls fn(labels, value) for every counter of the family `name`.
  void ForEachCounter(const std::string& name,
                      const std::function<void(const std::string&, uint64_t)>& fn) const;

 private:
  struct Family {
    std::string help;
    std::string type;
    std::map<std::string, std::unique_ptr<Counter>> counters;
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
  };
  Family& GetFamily(const std::string& name, const std::string& help, const std::string& type);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::map<uint64_t, std::function<void(const Emit&)>> collectors_;  // by id, in order
  uint64_t next_collector_ = 1;
};

}  // namespace inlet
