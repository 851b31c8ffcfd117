// Filter-policy throughput on one core: evaluations per second of 1, 10 and
// 100 policies per topic, simple (attribute) and complex (payload) ones, on
// typical location events; and the whole per-event cost (flatten the event
// once, then evaluate every policy). Baseline, in the same run: parsing the
// same events with simdjson alone. Prints a table and BENCH lines.
//
//   filter_bench [--seconds S]   (time per measurement, default 1)
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bus/filter_policy.h"

namespace {

using inlet::bus::FilterPolicy;
using inlet::bus::PolicyInput;
using inlet::bus::PolicyScope;
using Clock = std::chrono::steady_clock;

struct Event {
  std::string attributes;
  std::string body;
};

std::vector<Event> MakeEvents(size_t n) {
  static const char* kTypes[] = {"location", "location", "location", "checkin", "error"};
  static const char* kRegions[] = {"eu-west-1", "us-east-1", "eu-central-1", "ap-south-1"};
  static const char* kOs[] = {"android", "ios", "Android", "web"};
  std::vector<Event> events;
  uint64_t seed = 42;
  auto next = [&] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<unsigned>(seed >> 33);
  };
  for (size_t i = 0; i < n; ++i) {
    const char* type = kTypes[next() % 5];
    const char* region = kRegions[next() % 4];
    const unsigned severity = next() % 6;
    char body[1024];
    std::snprintf(
        body, sizeof(body),
        R"({"event_id":"e-%08zu-%06u","user_id":"u-%06u","type":"%s","ts":"2024-05-14T16:%02u:%02u.%03uZ",)"
        R"("lat":40.%06u,"lon":-73.%06u,"age":%u,"gender":"%s","severity":%u,)"
        R"("app":{"version":"3.%u.%u","os":"%s","build":%u},"net":{"ip":"10.%u.%u.%u","carrier":"carrier-%u"},)"
        R"("tags":["t%u","t%u"],"region":"%s"})",
        i, next() % 1000000, next() % 1000000, type, next() % 60, next() % 60, next() % 1000,
        next() % 1000000, next() % 1000000, 18 + next() % 60, next() % 2 ? "f" : "m", severity,
        next() % 10, next() % 10, kOs[next() % 4], next() % 5000, next() % 4, next() % 256,
        next() % 256, next() % 20, next() % 8, next() % 8, region);
    char attributes[512];
    std::snprintf(attributes, sizeof(attributes),
                  R"({"type":{"DataType":"String","StringValue":"%s"},)"
                  R"("severity":{"DataType":"Number","StringValue":"%u"},)"
                  R"("region":{"DataType":"String","StringValue":"%s"}})",
                  type, severity, region);
    events.push_back({attributes, body});
  }
  return events;
}

// Attribute policies of one or two keys, as most subscriptions have.
std::string SimplePolicy(size_t i) {
  switch (i % 4) {
    case 0:
      return R"({"type":["error","checkin"]})";
    case 1:
      return R"({"severity":[{"numeric":[">=",)" + std::to_string(i % 6) + "]}]}";
    case 2:
      return R"({"region":[{"prefix":"eu-"}],"type":["location"]})";
    default:
      return R"({"type":[{"anything-but":["location","t)" + std::to_string(i) + R"("]}]})";
  }
}

// Payload policies with nesting, $or, cidr, ranges and case folding.
std::string ComplexPolicy(size_t i) {
  const std::string k = std::to_string(i % 50);
  switch (i % 3) {
    case 0:
      return R"({"type":["location"],"app":{"os":[{"equals-ignore-case":"android"}],"version":[{"prefix":"3."}]},)"
             R"("age":[{"numeric":[">=",18,"<",)" +
             std::to_string(30 + i % 40) + R"(]}],"net":{"ip":[{"cidr":"10.)" +
             std::to_string(i % 4) + R"(.0.0/16"}]}})";
    case 1:
      return R"({"$or":[{"severity":[{"numeric":[">=",4]}]},{"type":["error"]}],)"
             R"("region":[{"anything-but":{"prefix":"ap-"}}],"tags":["t1","t)" +
             std::to_string(i % 8) + R"("]})";
    default:
      return R"({"gender":["f"],"net":{"carrier":["carrier-)" + k +
             R"(","carrier-3"]},"app":{"build":[{"numeric":["<",2500]}]},"user_id":[{"prefix":"u-1"}]})";
  }
}

std::vector<FilterPolicy> Compile(size_t n, bool complex) {
  std::vector<FilterPolicy> out;
  for (size_t i = 0; i < n; ++i) {
    std::string text = complex ? ComplexPolicy(i) : SimplePolicy(i);
    auto policy = FilterPolicy::Compile(
        text, complex ? PolicyScope::kMessageBody : PolicyScope::kMessageAttributes);
    if (!policy.ok()) {
      std::fprintf(stderr, "bad bench policy %s: %s\n", text.c_str(),
                   policy.status().message().c_str());
      std::exit(1);
    }
    out.push_back(std::move(*policy));
  }
  return out;
}

// Runs `body` (which processes `units` units per call) for about `seconds`;
// returns units per second.
double Rate(double seconds, size_t units, const std::function<void()>& body) {
  body();  // warm up
  size_t calls = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  do {
    body();
    ++calls;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < seconds);
  return static_cast<double>(calls * units) / elapsed;
}

size_t g_sink = 0;  // keeps results observable

}  // namespace

int main(int argc, char** argv) {
  double seconds = 1.0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
  }
  const std::vector<Event> events = MakeEvents(1024);
  size_t bytes = 0;
  for (const Event& e : events) bytes += e.body.size();

  // Baseline: parse each event once with simdjson (what any filter must do).
  simdjson::dom::parser parser;
  std::vector<simdjson::padded_string> padded;
  for (const Event& e : events) padded.emplace_back(e.body);
  const double parse_rate = Rate(seconds, events.size(), [&] {
    for (const auto& p : padded) {
      simdjson::dom::element doc;
      if (!parser.parse(p).get(doc)) g_sink += doc.is_object();
    }
  });

  // Inputs flattened ahead of time: pure policy evaluation.
  std::vector<std::unique_ptr<PolicyInput>> inputs;
  for (const Event& e : events) {
    inputs.push_back(std::make_unique<PolicyInput>());
    inputs.back()->Reset(e.attributes, e.body);
    (void)inputs.back()->Fields(PolicyScope::kMessageAttributes);
    (void)inputs.back()->Fields(PolicyScope::kMessageBody);
  }

  std::printf("filter policy bench: %zu events, %.0f bytes/event on average, one core\n",
              events.size(), static_cast<double>(bytes) / events.size());
  std::printf("baseline: simdjson parse alone %.0f events/s\n\n", parse_rate);
  std::printf("%-8s %9s %18s %18s %14s\n", "policies", "policies", "evaluations/s",
              "events/s (e2e)", "match rate");

  struct Row {
    std::string metric;
    double value;
    std::string unit;
  };
  std::vector<Row> rows;
  for (bool complex : {false, true}) {
    for (size_t n : {1, 10, 100}) {
      std::vector<FilterPolicy> policies = Compile(n, complex);
      size_t matched = 0;
      const double eval_rate = Rate(seconds, events.size() * n, [&] {
        for (const auto& input : inputs) {
          for (const FilterPolicy& p : policies) matched += p.Matches(*input);
        }
      });
      // End to end: one reused input per thread, flattened once per event.
      PolicyInput input;
      const double event_rate = Rate(seconds, events.size(), [&] {
        for (const Event& e : events) {
          input.Reset(e.attributes, e.body);
          for (const FilterPolicy& p : policies) g_sink += p.Matches(input);
        }
      });
      const double total = static_cast<double>(events.size() * n);
      size_t one_pass = 0;
      for (const auto& in : inputs) {
        for (const FilterPolicy& p : policies) one_pass += p.Matches(*in);
      }
      g_sink += matched;
      const char* kind = complex ? "complex" : "simple";
      std::printf("%-8s %9zu %18.0f %18.0f %13.1f%%\n", kind, n, eval_rate, event_rate,
                  100.0 * static_cast<double>(one_pass) / total);
      rows.push_back({std::string(kind) + "_" + std::to_string(n) + "_policies_evaluations",
                      eval_rate, "evaluations/s"});
      rows.push_back({std::string(kind) + "_" + std::to_string(n) + "_policies_events_e2e",
                      event_rate, "events/s"});
    }
  }
  std::printf("\n");
  for (const Row& r : rows) {
    std::printf(
        "BENCH {\"bench\":\"filter\",\"metric\":\"%s\",\"value\":%.0f,\"unit\":\"%s\","
        "\"baseline_metric\":\"simdjson_parse_events\",\"baseline\":%.0f,\"ratio\":%.3f}\n",
        r.metric.c_str(), r.value, r.unit.c_str(), parse_rate, r.value / parse_rate);
  }
  return g_sink == 0xFFFFFFFFFFFFull ? 1 : 0;
}
