#include "loadgen/load_generator.h"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include "common/clock.h"
#include "http/http_client.h"

namespace inlet::loadgen {
namespace {

std::string NowRfc3339() { return FormatRfc3339Micros(NowMicros()); }

// A template split into literal parts and placeholders, expanded fast.
class Template {
 public:
  explicit Template(const std::string& text) {
    size_t pos = 0;
    while (pos < text.size()) {
      size_t open = text.find("{{", pos);
      if (open == std::string::npos) {
        parts_.push_back({text.substr(pos), ""});
        break;
      }
      size_t close = text.find("}}", open);
      if (close == std::string::npos) {
        parts_.push_back({text.substr(pos), ""});
        break;
      }
      parts_.push_back({text.substr(pos, open - pos), text.substr(open + 2, close - open - 2)});
      pos = close + 2;
    }
  }
  void Expand(std::string* out, const std::string& id, uint64_t seq, const std::string& ts,
              std::mt19937_64& rng) const {
    for (const auto& [lit, ph] : parts_) {
      out->append(lit);
      if (ph.empty()) continue;
      if (ph == "id")
        out->append(id);
      else if (ph == "seq")
        out->append(std::to_string(seq));
      else if (ph == "ts")
        out->append(ts);
      else if (ph == "user")
        out->append("u" + std::to_string(rng() % 10000));
      else if (ph == "rand")
        out->append(std::to_string(rng() % 1000000));
      else
        out->append("{{" + ph + "}}");
    }
  }

 private:
  std::vector<std::pair<std::string, std::string>> parts_;
};

}  // namespace

std::string DefaultTemplate() {
  return R"({"event_id":"{{id}}","user_id":"{{user}}","event_type":"location","ts":"{{ts}}","lat":40.7{{rand}},)"
         R"("lon":-73.9{{rand}},"accuracy_m":12.5,"age":34,"gender":"female","email":"someone@example.com",)"
         R"("ip":"203.0.113.7","device":{"os":"android","os_version":"14","model":"Pixel 8"},"tags":["commute","bike"]})";
}

std::string LoadReport::Summary() const {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "%.0f events/s, %.1f MB/s, %llu events in %.1f s over %llu requests; ack latency "
                "p50 %.2f ms, "
                "p99 %.2f ms, max %.2f ms",
                events_per_second(), mb_per_second(), static_cast<unsigned long long>(events_acked),
                seconds, static_cast<unsigned long long>(requests_ok), p50_ms, p99_ms, max_ms);
  std::string s = buf;
  for (const auto& [status, n] : failures) {
    s += "; " + std::to_string(n) + " requests failed with " +
         (status == 0 ? "a connection error" : "HTTP " + std::to_string(status));
  }
  return s;
}

Result<LoadReport> RunLoad(const LoadOptions& o) {
  if (o.connections == 0 || o.batch == 0)
    return Status::InvalidArgument("connections and batch must be positive");
  const Template tmpl(o.payload_template.empty() ? DefaultTemplate() : o.payload_template);
  std::mutex mu;
  LoadReport report;
  std::vector<double> latencies;
  std::atomic<uint64_t> acked_total{0};
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + o.duration;
  std::vector<std::thread> threads;
  for (uint32_t c = 0; c < o.connections; ++c) {
    threads.emplace_back([&, c] {
      http::HttpClient client(o.host, o.port, std::chrono::seconds(30));
      std::mt19937_64 rng(c * 7919 + 17);
      std::vector<std::pair<std::string, std::string>> headers = {
          {"Content-Type", o.batch == 1 ? "application/json" : "application/x-ndjson"}};
      if (!o.api_key.empty()) headers.emplace_back("Authorization", "Bearer " + o.api_key);
      const std::string target = "/v1/topics/" + o.topic + "/events";
      const std::string prefix = o.id_prefix + "-" + std::to_string(c) + "-";
      const double per_conn_rate = o.rate > 0 ? o.rate / o.connections : 0;
      std::vector<double> my_lat;
      LoadReport mine;
      uint64_t n = 0;
      std::string body;
      // Connections start spread over one period, as independent producers
      // would: all sending at the same instant would measure queueing of the
      // load generator's own making.
      auto next_send = std::chrono::steady_clock::now();
      if (per_conn_rate > 0) {
        next_send += std::chrono::microseconds(
            static_cast<int64_t>(1e6 * o.batch / per_conn_rate * c / o.connections));
      }
      while (std::chrono::steady_clock::now() < end && !(o.stop && o.stop->load())) {
        if (o.max_events && acked_total.load() >= o.max_events) break;
        if (per_conn_rate > 0) {
          std::this_thread::sleep_until(next_send);
          next_send +=
              std::chrono::microseconds(static_cast<int64_t>(1e6 * o.batch / per_conn_rate));
        }
        body.clear();
        const std::string ts = NowRfc3339();
        for (uint32_t i = 0; i < o.batch; ++i) {
          tmpl.Expand(&body, prefix + std::to_string(n + i), n + i, ts, rng);
          if (o.batch > 1) body += '\n';
        }
        if (o.idempotency_keys) {
          if (headers.back().first != "Idempotency-Key")
            headers.emplace_back("Idempotency-Key", "");
          headers.back().second = prefix + std::to_string(n);
        }
        auto t0 = std::chrono::steady_clock::now();
        auto r = client.Request("POST", target, body, headers);
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                        .count();
        if (r.ok() && r->status == 200) {
          if (o.on_ack) o.on_ack(c, n, n + o.batch - 1);
          n += o.batch;
          mine.events_acked += o.batch;
          mine.bytes_acked += body.size();
          mine.requests_ok++;
          acked_total.fetch_add(o.batch);
          my_lat.push_back(ms);
        } else {
          // A 4xx stored nothing: the same ids are sent again. A 5xx may
          // have stored part of the batch: with idempotency keys the same ids
          // are sent again (the server drops what it has), otherwise they are
          // unknown, as after a connection error, and new ids follow.
          const bool maybe_stored = !r.ok() || r->status >= 500;
          if (maybe_stored && o.on_unknown) o.on_unknown(c, n, n + o.batch - 1);
          if (!r.ok() || (maybe_stored && !o.idempotency_keys)) n += o.batch;
          mine.failures[r.ok() ? r->status : 0]++;
          if (!r.ok() || r->status == 503 || r->status == 507 || r->status == 429) {
            std::this_thread::sleep_for(std::chrono::milliseconds(r.ok() ? 100 : 20));
          }
        }
      }
      std::lock_guard lock(mu);
      report.events_acked += mine.events_acked;
      report.bytes_acked += mine.bytes_acked;
      report.requests_ok += mine.requests_ok;
      for (auto& [k, v] : mine.failures) report.failures[k] += v;
      latencies.insert(latencies.end(), my_lat.begin(), my_lat.end());
    });
  }
  for (auto& t : threads) t.join();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    report.p50_ms = latencies[latencies.size() / 2];
    report.p99_ms = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
    report.max_ms = latencies.back();
  }
  return report;
}

}  // namespace inlet::loadgen
