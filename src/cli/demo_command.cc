#include "cli/demo_command.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "cli/lake_commands.h"
#include "cli/pipeline.h"
#include "config/config.h"
#include "lake/lake_service.h"
#include "lake/result_format.h"
#include "loadgen/app_simulator.h"

namespace inlet::cli {
namespace {
namespace fs = std::filesystem;

struct DemoOptions {
  std::string config = "examples/inlet.yaml";
  double seconds = 60;
  uint32_t persons = 2000;
  double rate = 3000;
  double time_scale = 10;
  std::string pois;
  std::string key = "inlet-local-dev-key";
  bool fresh = false;
};

// Waits up to `ms` for SIGINT/SIGTERM (blocked by main); true when one came.
bool Interrupted(int ms) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  return sigtimedwait(&set, nullptr, &ts) > 0;
}

std::string Human(double v) {
  char buf[32];
  if (v >= 1e9)
    std::snprintf(buf, sizeof(buf), "%.2fG", v / 1e9);
  else if (v >= 1e6)
    std::snprintf(buf, sizeof(buf), "%.2fM", v / 1e6);
  else if (v >= 1e3)
    std::snprintf(buf, sizeof(buf), "%.1fk", v / 1e3);
  else
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  return buf;
}

int RunDemo(const DemoOptions& o) {
  auto config = config::LoadConfig(o.config);
  if (!config.ok()) {
    std::fprintf(stderr, "inlet demo: invalid configuration:\n%s\n",
                 config.status().message().c_str());
    return 1;
  }
  fs::path poi_file = o.pois;
  if (poi_file.empty()) poi_file = fs::path(o.config).parent_path() / "poi" / "nyc-landmarks.csv";
  auto pois = loadgen::LoadPoiCsv(poi_file);
  if (!pois.ok()) {
    std::fprintf(stderr, "inlet demo: %s\n", pois.status().message().c_str());
    return 1;
  }
  const std::string lake = config->storage.lake_dir.string();
  if (o.fresh) {
    // Simulated time runs ahead of the clock, so a second run would send
    // events older than the windows the first one closed: start empty.
    std::error_code ec;
    for (const auto& dir : {config->storage.log_dir, config->storage.lake_dir}) {
      if (fs::exists(dir)) {
        std::printf("inlet demo --fresh: removing %s\n", dir.c_str());
        fs::remove_all(dir, ec);
      }
    }
  }
  Pipeline pipeline(std::move(config).value());
  Status st = pipeline.Start();
  if (!st.ok()) {
    std::fprintf(stderr, "inlet demo: cannot start: %s\n", st.ToString().c_str());
    return 1;
  }
  const auto& cfg = pipeline.config();
  const std::string url = "http://" + cfg.server.host + ":" + std::to_string(pipeline.port()) + "/";
  loadgen::SimulatorOptions so;
  so.host = cfg.server.host;
  so.port = pipeline.port();
  so.api_key = cfg.server.auth ? o.key : "";
  so.pois = std::move(pois).value();
  so.persons = o.persons;
  so.events_per_second = o.rate;
  so.time_scale = o.time_scale;
  so.seed = static_cast<uint64_t>(::getpid());
  loadgen::AppSimulator sim(so);
  const bool tty = ::isatty(1);
  std::printf(
      "inlet demo: %u simulated people moving between %zu points of interest (%s), %.0f events/s, "
      "simulated time x%.0f, for %.0f s (Ctrl-C stops)\n",
      o.persons, so.pois.size(), poi_file.c_str(), o.rate, o.time_scale, o.seconds);
  std::printf("dashboard: %s   API key: %s   lake: %s\n\n", url.c_str(), o.key.c_str(),
              lake.c_str());
  sim.Start();
  const auto start = std::chrono::steady_clock::now();
  uint64_t last_events = 0;
  auto last_t = start;
  bool interrupted = false;
  int tick = 0;
  while (!interrupted) {
    interrupted = Interrupted(1000);
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start).count();
    const PipelineStats s = pipeline.Stats();
    const double rate =
        (s.events_ingested - last_events) / std::chrono::duration<double>(now - last_t).count();
    last_events = s.events_ingested;
    last_t = now;
    uint64_t backlog = 0;
    for (const auto& [name, b] : s.backlog) backlog += b;
    uint64_t rejected = 0;
    for (const auto& [reason, n] : s.rejected_at_ingest) rejected += n;
    char line[512];
    std::snprintf(line, sizeof(line),
                  "[%3.0fs] %s events/s | ingested %s | backlog %s | lake %llu files, %s rows | "
                  "rejected at ingest %llu",
                  elapsed, Human(rate).c_str(), Human(double(s.events_ingested)).c_str(),
                  Human(double(backlog)).c_str(), static_cast<unsigned long long>(s.lake_files),
                  Human(double(s.lake_rows)).c_str(), static_cast<unsigned long long>(rejected));
    if (tty) {
      std::printf("\r%-150s", line);
      std::fflush(stdout);
    } else if (++tick % 5 == 0) {
      std::printf("%s\n", line);
      std::fflush(stdout);
    }
    if (elapsed >= o.seconds) break;
  }
  sim.Stop();
  std::printf("%s\nstopping the simulator, flushing the lake ...\n", tty ? "\n" : "");
  // Let the pipeline drain what is buffered: delivery flushes on stop.
  const PipelineStats before = pipeline.Stats();
  std::printf("\nsummary\n-------\n");
  std::printf(
      "events sent by the simulator      %llu (%llu invalid for the schema, %llu malformed)\n",
      static_cast<unsigned long long>(sim.stats().sent.load()),
      static_cast<unsigned long long>(sim.stats().invalid_sent.load()),
      static_cast<unsigned long long>(sim.stats().rejected_at_ingest.load()));
  std::printf("events ingested (durable)         %llu\n",
              static_cast<unsigned long long>(before.events_ingested));
  for (const auto& [reason, n] : before.rejected_at_ingest) {
    std::printf("rejected at ingest: %-14s %llu\n", reason.c_str(),
                static_cast<unsigned long long>(n));
  }
  pipeline.Stop();
  // Count what the lake holds now that every stream flushed.
  uint64_t files = 0, bytes = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(lake, ec);
       !ec && it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_regular_file() && it->path().extension() == ".parquet" &&
        it->path().string().find("/_staging/") == std::string::npos) {
      ++files;
      bytes += it->file_size();
    }
  }
  std::printf("Parquet files in the lake         %llu (%s bytes) under %s\n",
              static_cast<unsigned long long>(files), Human(double(bytes)).c_str(), lake.c_str());
  // What the lake says, by SQL through the catalog (as `inlet query` would).
  auto lake_service =
      lake::LakeService::Open(pipeline.config().lake, pipeline.config().storage.lake_dir,
                              LakeTablesFromConfig(pipeline.config()));
  if (lake_service.ok()) {
    auto* engine = lake_service.value()->engine();
    auto show = [&](const char* title, const std::string& sql) {
      auto r = engine->Query(sql, 20);
      if (r.ok()) {
        std::printf("\n%s\n%s", title, lake::FormatTable(r.value(), 40).c_str());
      } else {
        std::printf("\n%s: %s\n", title, r.status().message().c_str());
      }
    };
    show("events stored in the raw lake",
         "SELECT count(*) AS events, count(DISTINCT event_id) AS distinct_ids FROM raw.events");
    show("rejected by the processor, by category",
         "SELECT category, count(*) AS events FROM errors.rejected WHERE category IS NOT NULL "
         "GROUP BY 1 ORDER BY 2 DESC");
    show(
        "top points of interest: persons present per window, summed over windows, by gender; "
        "busiest age band",
        "SELECT poi_name, sum(persons) AS persons, sum(persons) FILTER (WHERE gender = 'female') "
        "AS female, "
        "sum(persons) FILTER (WHERE gender = 'male') AS male, "
        "sum(persons) FILTER (WHERE gender NOT IN ('female', 'male')) AS other, "
        "arg_max(age_band, persons) AS top_age_band, count(DISTINCT window_start) AS windows "
        "FROM curated.poi_presence GROUP BY poi_name ORDER BY persons DESC LIMIT 10");
  }
  std::printf(
      "\nquery it:  ./build/inlet query --config %s \"SELECT * FROM curated.poi_presence LIMIT "
      "10\"\n",
      o.config.c_str());
  if (interrupted || !::isatty(0) || !tty) return 0;
  // Interactive: serve the dashboard over the data until Ctrl-C.
  Pipeline serving(pipeline.config());
  if (!serving.Start().ok()) return 0;
  std::printf("\nserving the dashboard at %s until Ctrl-C\n", url.c_str());
  while (!Interrupted(1000)) {
  }
  serving.Stop();
  return 0;
}

}  // namespace

void AddDemoCommand(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<DemoOptions>();
  if (const char* s = std::getenv("DEMO_SECONDS")) o->seconds = std::atof(s);
  auto* demo =
      app.add_subcommand("demo",
                         "Run the whole pipeline fed by a simulator of app users, with live "
                         "progress and a summary (DEMO_SECONDS, default 60)");
  demo->add_option("config", o->config, "Configuration file")
      ->capture_default_str()
      ->check(CLI::ExistingFile);
  demo->add_option("--seconds", o->seconds, "How long the simulator runs")->capture_default_str();
  demo->add_option("--persons", o->persons, "Simulated people")->capture_default_str();
  demo->add_option("--rate", o->rate, "Events per second sent by the simulator")
      ->capture_default_str();
  demo->add_option("--time-scale", o->time_scale, "Simulated seconds per real second")
      ->capture_default_str();
  demo->add_option("--pois", o->pois,
                   "CSV of points of interest (default: poi/nyc-landmarks.csv beside the config)");
  demo->add_option("--key", o->key, "API key the simulator publishes with")->capture_default_str();
  demo->add_flag("--fresh", o->fresh,
                 "Remove the configuration's log and lake folders first (make demo does)");
  demo->callback([o, &exit_code] { exit_code = RunDemo(*o); });
}

}  // namespace inlet::cli
