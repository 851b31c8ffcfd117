#include "common/metrics.h"

#include <cmath>
#include <cstdio>

namespace inlet {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

double Histogram::Quantile(double q) const {
  const uint64_t total = count();
  if (total == 0) return 0;
  const double target = q * static_cast<double>(total);
  uint64_t seen = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    seen += counts_[i].load(std::memory_order_relaxed);
    if (static_cast<double>(seen) >= target) return i < bounds_.size() ? bounds_[i] : INFINITY;
  }
  return INFINITY;
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
}

MetricsRegistry::Family& MetricsRegistry::GetFamily(const std::string& name,
                                                    const std::string& help,
                                                    const std::string& type) {
  Family& f = families_[name];
  if (f.type.empty()) {
    f.help = help;
    f.type = type;
  }
  return f;
}

Counter& MetricsRegistry::GetCounter(const std::string& name, const std::string& help,
                                     const std::string& labels) {
  std::lock_guard lock(mu_);
  auto& slot = GetFamily(name, help, "counter").counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::GetGauge(const std::string& name, const std::string& help,
                                 const std::string& labels) {
  std::lock_guard lock(mu_);
  auto& slot = GetFamily(name, help, "gauge").gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const std::string& labels, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  auto& slot = GetFamily(name, help, "histogram").histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
  return *slot;
}

uint64_t MetricsRegistry::AddCollector(std::function<void(const Emit&)> collector) {
  std::lock_guard lock(mu_);
  const uint64_t id = next_collector_++;
  collectors_.emplace(id, std::move(collector));
  return id;
}

void MetricsRegistry::RemoveCollector(uint64_t id) {
  std::lock_guard lock(mu_);
  collectors_.erase(id);
}

void MetricsRegistry::ForEachCounter(
    const std::string& name, const std::function<void(const std::string&, uint64_t)>& fn) const {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return;
  for (const auto& [labels, c] : it->second.counters) fn(labels, c->value());
}

namespace {
std::string Num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.9g", v);
  }
  return buf;
}
std::string Braced(const std::string& labels, const std::string& extra = "") {
  std::string all = labels;
  if (!extra.empty()) all += (all.empty() ? "" : ",") + extra;
  return all.empty() ? "" : "{" + all + "}";
}
}  // namespace

std::string MetricsRegistry::Render() const {
  std::lock_guard lock(mu_);
  std::map<std::string, std::string> out;  // family name -> text, sorted
  for (const auto& [name, f] : families_) {
    std::string& s = out[name];
    s += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
    for (const auto& [labels, c] : f.counters)
      s += name + Braced(labels) + " " + Num(double(c->value())) + "\n";
    for (const auto& [labels, g] : f.gauges)
      s += name + Braced(labels) + " " + Num(g->value()) + "\n";
    for (const auto& [labels, h] : f.histograms) {
      uint64_t cum = 0;
      for (size_t i = 0; i <= h->bounds_.size(); ++i) {
        cum += h->counts_[i].load(std::memory_order_relaxed);
        std::string le =
            "le=\"" + (i < h->bounds_.size() ? Num(h->bounds_[i]) : std::string("+Inf")) + "\"";
        s += name + "_bucket" + Braced(labels, le) + " " + Num(double(cum)) + "\n";
      }
      s += name + "_sum" + Braced(labels) + " " + Num(h->sum_.load()) + "\n";
      s += name + "_count" + Braced(labels) + " " + Num(double(h->count())) + "\n";
    }
  }
  std::map<std::string, std::pair<std::string, std::string>> headers;  // name -> help,type
  Emit emit = [&](const std::string& name, const std::string& help, const std::string& type,
                  const std::string& labels, double value) {
    std::string& s = out[name];
    if (s.empty()) s += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    s += name + Braced(labels) + " " + Num(value) + "\n";
  };
  for (const auto& [id, c] : collectors_) c(emit);
  std::string text;
  for (const auto& [name, s] : out) text += s;
  return text;
}

}  // namespace inlet
