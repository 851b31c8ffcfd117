// bench/process: events/s per worker (one thread) for the whole stage chain
// (validate, flatten, mask with HMAC pseudonyms, S2 POI lookup, windowed
// distinct counting, window output) with 1k and 100k POIs, next to the
// brute-force DuckDB SQL (haversine join + GROUP BY) over the same events.
//
// --example: instead, the processor of examples/inlet.yaml as configured
// (its table, mapping, five masking rules, POI file, curated/events written,
// batches of fetch_max_messages) on the load generator's default events, the
// processor's share of the e2e benchmark; next to DuckDB's read_json of the
// same events written to one Parquet file (conversion and writing only).
#include <duckdb.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "loadgen/load_generator.h"
#include "process/event_processor.h"
#include "storage/local_object_store.h"

using namespace inlet;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point a) {
  return std::chrono::duration<double>(Clock::now() - a).count();
}

void Bench(const std::filesystem::path& root, int pois, int events, int sql_events, bool with_sql,
           int workers) {
  // A fresh lake per run: the processor skips messages an earlier run committed.
  const std::filesystem::path dir = root / ("pois-" + std::to_string(pois));
  std::filesystem::create_directories(dir);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> lat(40.55, 40.90), lon(-74.10, -73.75);
  {
    std::ofstream f(dir / "pois.csv");
    f << "id,name,lat,lon,radius_m,category\n";
    for (int i = 0; i < pois; ++i)
      f << "p" << i << ",poi," << lat(rng) << "," << lon(rng) << ",150,x\n";
  }
  {
    std::ofstream k(dir / "key");
    k << "bench-key-0123456789abcdef";
  }
  std::vector<bus::Message> messages(events);
  std::ofstream csv(dir / "events.csv");
  csv << "person,ts,lat,lon\n";
  char buf[300];
  for (int i = 0; i < events; ++i) {
    double la = lat(rng), lo = lon(rng);
    long long t = 1'717'200'000 + i / 2000;
    snprintf(buf, sizeof buf,
             R"({"user_id":"user-%d","ts":%lld,"lat":%.7f,"lon":%.7f,"age":%d,"gender":"%s"})",
             i % 50000, t, la, lo, 18 + i % 60, i % 3 ? "F" : "M");
    messages[i].seq = i + 1;
    messages[i].payload = buf;
    if (i < sql_events) csv << "user-" << i % 50000 << "," << t << "," << la << "," << lo << "\n";
  }
  csv.close();
  schema::TableSchema t;
  t.database = "raw", t.name = "events";
  for (auto [n, ty] : std::vector<std::pair<const char*, const char*>>{{"user_id", "string"},
                                                                       {"ts", "timestamp"},
                                                                       {"lat", "double"},
                                                                       {"lon", "double"},
                                                                       {"age", "int"},
                                                                       {"gender", "string"}}) {
    t.columns.push_back(
        {.name = n, .type = *schema::ParseType(ty), .required = std::string(n) != "age"});
  }
  process::ProcessorConfig pc;
  pc.name = "bench";
  pc.table = "raw.events";
  pc.mapping = {{"user_id", "$.user_id"},
                {"ts", "$.ts"},
                {"lat", "$.lat"},
                {"lon", "$.lon"},
                {"age", "$.age", process::Derive::kAge},
                {"gender", "$.gender", process::Derive::kGender}};
  pc.masking.key_file = (dir / "key").string();
  process::MaskRule r;
  r.column = "user_id", r.op = process::MaskOp::kPseudonym;
  pc.masking.rules = {r};
  pc.aggregate.enabled = true;
  pc.aggregate.poi_file = (dir / "pois.csv").string();
  pc.write_events = false;
  auto lake = storage::LocalObjectStore::Open(dir / "lake");
  auto p = process::EventProcessor::Create(pc, t, lake->get(), nullptr, nullptr);
  if (!p.ok()) {
    fprintf(stderr, "%s\n", p.status().ToString().c_str());
    exit(1);
  }
  auto start = Clock::now();
  // Workers take the next batch as from a queue (their stages run in
  // parallel, their commits one at a time).
  std::vector<double> emit_secs_of(workers, 0);  // writing poi_presence (window close, Parquet)
  std::vector<std::thread> threads;
  std::atomic<uint64_t> late{0}, rejected{0};
  std::atomic<int> next{0};
  for (int k = 0; k < workers; ++k) {
    threads.emplace_back([&, k] {
      auto w = (*p)->NewWorker();
      if (!w.ok()) exit(1);
      for (int i; (i = next.fetch_add(1000)) < events;) {
        std::vector<const bus::Message*> batch;
        for (int j = i; j < std::min(events, i + 1000); ++j) batch.push_back(&messages[j]);
        auto res = (*p)->ProcessBatch(w->get(), batch);
        if (!res.ok()) {
          fprintf(stderr, "%s\n", res.status().ToString().c_str());
          exit(1);
        }
        late += res->late, rejected += res->rejected;
        auto emit_start = Clock::now();
        (void)(*p)->EmitReady(false);
        emit_secs_of[k] += Seconds(emit_start);
      }
    });
  }
  for (auto& t : threads) t.join();
  double emit_secs = 0;
  for (double e : emit_secs_of) emit_secs += e;
  auto emit_start = Clock::now();
  (void)(*p)->EmitReady(true);
  emit_secs += Seconds(emit_start);
  double secs = Seconds(start);
  fprintf(stderr,
          "  %d POIs: %.2f s in all, %.2f s writing poi_presence windows; %llu late, %llu "
          "rejected\n",
          pois, secs, emit_secs, static_cast<unsigned long long>(late.load()),
          static_cast<unsigned long long>(rejected.load()));
  double rate = events / secs / workers;

  if (!with_sql) {
    printf("%-10d %-12d %-18.0f %-18s\n", pois, events, rate, "-");
    return;
  }
  duckdb_database db;
  duckdb_connection con;
  duckdb_open(nullptr, &db);
  duckdb_connect(db, &con);
  duckdb_query(con, "SET threads=1", nullptr);
  std::string load =
      "CREATE TABLE ev AS SELECT person, to_timestamp(CAST(ts AS BIGINT)) ts, CAST(lat AS DOUBLE) "
      "lat, "
      "CAST(lon AS DOUBLE) lon FROM read_csv('" +
      (dir / "events.csv").string() +
      "', header=true, all_varchar=true); CREATE TABLE pois AS SELECT * FROM read_csv('" +
      (dir / "pois.csv").string() + "', header=true)";
  duckdb_query(con, load.c_str(), nullptr);
  start = Clock::now();
  duckdb_result res;
  std::string sql =
      "SELECT time_bucket(INTERVAL 1 minute, ts) w, pois.id, count(DISTINCT person), count(*) FROM "
      "ev JOIN pois ON "
      "2 * 6371008.8 * asin(least(1, sqrt(pow(sin(radians(pois.lat - ev.lat) / 2), 2) + "
      "cos(radians(ev.lat)) * "
      "cos(radians(pois.lat)) * pow(sin(radians(pois.lon - ev.lon) / 2), 2)))) <= pois.radius_m "
      "GROUP BY ALL";
  if (duckdb_query(con, sql.c_str(), &res) != DuckDBSuccess)
    fprintf(stderr, "%s\n", duckdb_result_error(&res));
  double sql_secs = Seconds(start);
  duckdb_destroy_result(&res);
  duckdb_disconnect(&con);
  duckdb_close(&db);
  double sql_rate = sql_events / sql_secs;
  printf("%-10d %-12d %-18.0f %-18.0f %.1fx\n", pois, events, rate, sql_rate, rate / sql_rate);
  printf(
      "BENCH "
      "{\"bench\":\"process\",\"metric\":\"stage_chain_events_per_s_per_worker_%dpois%s\","
      "\"value\":%.0f,\"unit\":\"events/s\",\"baseline_metric\":"
      "\"duckdb_bruteforce_sql_events_per_s_%dpois\",\"baseline\":%.0f,\"ratio\":%.2f}\n",
      pois, workers > 1 ? ("_" + std::to_string(workers) + "workers").c_str() : "", rate, pois,
      sql_rate, rate / sql_rate);
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size())
    s.replace(p, from.size(), to);
  return s;
}

double CpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

void BenchExample(const std::filesystem::path& dir, int events, bool write_events) {
  namespace fs = std::filesystem;
  const fs::path examples = fs::path(INLET_SOURCE_DIR) / "examples";
  fs::create_directories(dir);
  fs::copy_file(examples / "inlet.yaml", dir / "inlet.yaml", fs::copy_options::overwrite_existing);
  fs::copy(examples / "poi", dir / "poi", fs::copy_options::recursive);
  std::ofstream(dir / "pseudonym.key") << "bench-key-0123456789abcdef0123456789";
  auto cfg = config::LoadConfig(dir / "inlet.yaml");
  if (!cfg.ok() || cfg->process.processors.empty()) {
    fprintf(stderr, "examples/inlet.yaml: %s\n",
            cfg.ok() ? "no processor" : cfg.status().ToString().c_str());
    exit(1);
  }
  process::ProcessorConfig pc = cfg->process.processors.front();
  pc.write_events = write_events;
  pc.errors_topic.clear();  // no bus here: rejected events are stored, not notified
  for (auto& [category, action] : pc.error_actions) action.notify = false;
  // The load generator's events: 10k users, 1000 events per second of event time.
  const std::string tmpl = loadgen::DefaultTemplate();
  std::vector<bus::Message> messages(events);
  std::ofstream ndjson(dir / "events.ndjson");
  const int64_t start_s = 1'717'200'000;  // 2024-06-01T00:00:00Z
  for (int i = 0; i < events; ++i) {
    const int64_t t_us = (start_s + i / 1000) * 1'000'000 + (i % 1000) * 1000;
    const time_t secs = static_cast<time_t>(t_us / 1'000'000);
    tm utc;
    gmtime_r(&secs, &utc);
    char ts[64];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
             utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, i % 1000);
    std::string e = Replace(tmpl, "{{id}}", "bench-" + std::to_string(i));
    e = Replace(e, "{{user}}", "u" + std::to_string(static_cast<uint64_t>(i) * 7919 % 10000));
    e = Replace(e, "{{ts}}", ts);
    e = Replace(e, "{{rand}}", std::to_string(static_cast<uint64_t>(i) * 104729 % 1000000));
    ndjson << e << '\n';
    messages[i].seq = static_cast<uint64_t>(i) + 1;
    messages[i].arrival_us = t_us;
    messages[i].payload = std::move(e);
  }
  ndjson.close();
  auto lake = storage::LocalObjectStore::Open(dir / "lake");
  auto p =
      process::EventProcessor::Create(pc, cfg->tables.at(pc.table), lake->get(), nullptr, nullptr);
  if (!p.ok()) {
    fprintf(stderr, "%s\n", p.status().ToString().c_str());
    exit(1);
  }
  auto w = (*p)->NewWorker();
  if (!w.ok()) exit(1);
  const int batch_size = static_cast<int>(std::max<uint32_t>(1, pc.fetch_max_messages));
  uint64_t rejected = 0, late = 0;
  auto start = Clock::now();
  const double cpu0 = CpuSeconds();
  for (int i = 0; i < events; i += batch_size) {
    std::vector<const bus::Message*> batch;
    for (int j = i; j < std::min(events, i + batch_size); ++j) batch.push_back(&messages[j]);
    auto res = (*p)->ProcessBatch(w->get(), batch);
    if (!res.ok()) {
      fprintf(stderr, "%s\n", res.status().ToString().c_str());
      exit(1);
    }
    rejected += res->rejected, late += res->late;
    (void)(*p)->EmitReady(false);
  }
  (void)(*p)->EmitReady(true);
  const double secs = Seconds(start), cpu = CpuSeconds() - cpu0;
  // DuckDB: the same events from NDJSON to one zstd Parquet file, one thread.
  duckdb_database db;
  duckdb_connection con;
  duckdb_open(nullptr, &db);
  duckdb_connect(db, &con);
  duckdb_query(con, "SET threads=1", nullptr);
  std::string copy = "COPY (SELECT * FROM read_json('" + (dir / "events.ndjson").string() +
                     "', format = 'newline_delimited')) TO '" + (dir / "duck.parquet").string() +
                     "' (FORMAT parquet, COMPRESSION zstd)";
  auto duck_start = Clock::now();
  duckdb_result res;
  if (duckdb_query(con, copy.c_str(), &res) != DuckDBSuccess)
    fprintf(stderr, "%s\n", duckdb_result_error(&res));
  const double duck_secs = Seconds(duck_start);
  duckdb_destroy_result(&res);
  duckdb_disconnect(&con);
  duckdb_close(&db);
  const double rate = events / secs, duck_rate = events / duck_secs;
  printf(
      "examples/inlet.yaml processor, %d events in batches of %d, curated/events %s: %.0f "
      "events/s, %.2f us CPU per event (%llu rejected, %llu late)\n",
      events, batch_size, write_events ? "written" : "not written", rate, cpu * 1e6 / events,
      static_cast<unsigned long long>(rejected), static_cast<unsigned long long>(late));
  printf("DuckDB read_json -> one Parquet file: %.0f events/s; ratio %.2fx\n", duck_rate,
         rate / duck_rate);
  printf(
      "BENCH "
      "{\"bench\":\"process\",\"metric\":\"example_processor_events_per_s%s\",\"value\":%.0f,"
      "\"unit\":\"events/s\",\"baseline_metric\":\"duckdb_read_json_to_parquet_events_per_s\","
      "\"baseline\":%.0f,\"ratio\":%.2f}\n",
      write_events ? "" : "_no_curated_events", rate, duck_rate, rate / duck_rate);
}

}  // namespace

int main(int argc, char** argv) {
  int events = 1'000'000;
  int only_pois = 0;  // --pois N: one POI count only
  bool sql = true;    // --no-sql: skip the DuckDB baseline (profiling runs)
  int workers = 1;
  bool example = false;        // --example: the processor of examples/inlet.yaml (see the top)
  bool curated_events = true;  // --no-curated-events: with --example, skip curated/events
  // --lake-dir D: where the lake lives. Default /dev/shm when present: the
  // figure is the stage chain's cost, not the latency of the disk's fsync
  // (each batch commit fsyncs a few small objects).
  std::filesystem::path lake_root = std::filesystem::is_directory("/dev/shm")
                                        ? "/dev/shm"
                                        : std::filesystem::temp_directory_path();
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--events") && i + 1 < argc) events = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--pois") && i + 1 < argc) only_pois = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--no-sql")) sql = false;
    // --workers N: N workers of one processor, in parallel (events/s per worker is printed)
    if (!strcmp(argv[i], "--workers") && i + 1 < argc) workers = std::max(1, atoi(argv[i + 1]));
    if (!strcmp(argv[i], "--lake-dir") && i + 1 < argc) lake_root = argv[i + 1];
    if (!strcmp(argv[i], "--example")) example = true;
    if (!strcmp(argv[i], "--no-curated-events")) curated_events = false;
  }
  auto dir = lake_root / ("inlet-bench-process-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  if (example) {
    BenchExample(dir / "example", events, curated_events);
    std::filesystem::remove_all(dir);
    return 0;
  }
  printf("%-10s %-12s %-18s %-18s %s\n", "pois", "events", "chain events/s", "duckdb events/s",
         "ratio");
  for (int pois : {1000, 100'000}) {
    if (only_pois && pois != only_pois) continue;
    Bench(dir, pois, events, std::min(events, pois > 1000 ? 2'000 : 50'000), sql, workers);
  }
  if (only_pois && only_pois != 1000 && only_pois != 100'000) {
    Bench(dir, only_pois, events, std::min(events, 2'000), sql, workers);
  }
  std::filesystem::remove_all(dir);
}
