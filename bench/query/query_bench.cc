// bench/query: typical dashboard queries through inlet's query engine
// (catalog views, sandbox, limits, result conversion) against the same SQL
// run by DuckDB directly on the files, in the same process and run. The lake
// (raw events, Hive-partitioned by year/month/day over 31 days) is generated
// with DuckDB into a temporary folder.
//   bench_query [--events N] [--days D] [--runs R] [--threads T] [--lake DIR]
// --lake DIR keeps the generated lake in DIR and reuses it on the next run
// when DIR/raw/events already holds it (same --events and --days).
#include <duckdb.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "lake/lake_service.h"
#include "schema/table_schema.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

void Check(duckdb_state st, duckdb_result* r, const std::string& what) {
  if (st == DuckDBError) {
    std::fprintf(stderr, "%s: %s\n", what.c_str(), duckdb_result_error(r));
    std::exit(1);
  }
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
    s.replace(p, from.size(), to);
  return s;
}

// CPU time of the process (every thread), in milliseconds: steadier than
// the wall clock when other work shares the cores.
double CpuMs() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

std::string Fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f", v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t events = 10'000'000;
  int days = 31, runs = 5, threads = 2;
  std::string keep;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--events")) events = std::strtoull(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--days")) days = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--runs")) runs = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--lake")) keep = argv[i + 1];
  }
  fs::path dir = keep.empty()
                     ? fs::temp_directory_path() / ("inlet-bench-query-" + std::to_string(getpid()))
                     : fs::path(keep);
  fs::path lake = dir / "lake";
  // A kept lake is reused when it was generated with the same parameters.
  std::string stamp = std::to_string(events) + " events over " + std::to_string(days) + " days";
  fs::path stamp_file = dir / "generated";
  bool reuse = false;
  if (!keep.empty() && fs::exists(stamp_file)) {
    std::FILE* f = std::fopen(stamp_file.c_str(), "r");
    char buf[128] = {};
    if (f) {
      reuse = std::fgets(buf, sizeof(buf), f) && stamp == buf;
      std::fclose(f);
    }
  }
  if (!reuse) fs::remove_all(lake);
  fs::create_directories(lake / "raw/events");

  // 1. The lake: `events` raw events, 20k users, 50 POI cells, 31 days of May 2024.
  duckdb_database db;
  duckdb_connection conn;
  duckdb_config cfg;
  duckdb_create_config(&cfg);
  std::string t = std::to_string(threads);
  duckdb_set_config(cfg, "threads", t.c_str());
  duckdb_set_config(cfg, "autoload_known_extensions", "false");
  duckdb_open_ext(nullptr, &db, cfg, nullptr);
  duckdb_destroy_config(&cfg);
  duckdb_connect(db, &conn);
  auto gen_start = Clock::now();
  std::string gen =
      "COPY (SELECT 'e' || i AS event_id, 'u' || (hash(i) % 20000) AS user_id, "
      "TIMESTAMP '2024-05-01' + to_microseconds(CAST(i * (" +
      std::to_string(days) + " * 86400000000 // " + std::to_string(events) +
      ") AS BIGINT)) AS ts, "
      "48.80 + (hash(i * 7) % 50) * 0.002 AS lat, 2.30 + (hash(i * 7) % 50) * 0.002 AS lon, "
      "CAST(18 + hash(i * 3) % 60 AS INTEGER) AS age, "
      "CASE hash(i * 5) % 3 WHEN 0 THEN 'f' WHEN 1 THEN 'm' ELSE 'x' END AS gender, "
      "CAST(i AS BIGINT) AS _seq, 'event' AS _time_source, "
      "2024 AS year, 5 AS month, CAST(1 + i // (" +
      std::to_string(events) + " // " + std::to_string(days) +
      " + 1) AS INTEGER) AS day "
      "FROM range(" +
      std::to_string(events) + ") t(i)) TO '" + (lake / "raw/events").string() +
      "' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (year, month, day), OVERWRITE_OR_IGNORE)";
  duckdb_result r;
  if (!reuse) {
    Check(duckdb_query(conn, gen.c_str(), &r), &r, "generate");
    duckdb_destroy_result(&r);
    if (!keep.empty()) {
      std::FILE* f = std::fopen(stamp_file.c_str(), "w");
      if (f) {
        std::fputs(stamp.c_str(), f);
        std::fclose(f);
      }
    }
  }
  double gen_s = std::chrono::duration<double>(Clock::now() - gen_start).count();

  // 2. inlet's engine over the catalog.
  inlet::lake::TableRegistration reg;
  reg.schema.database = "raw";
  reg.schema.name = "events";
  for (auto [n, ty] :
       std::vector<std::pair<const char*, const char*>>{{"event_id", "string"},
                                                        {"user_id", "string"},
                                                        {"ts", "timestamp"},
                                                        {"lat", "double"},
                                                        {"lon", "double"},
                                                        {"age", "int"},
                                                        {"gender", "string"},
                                                        {"_seq", "bigint"},
                                                        {"_time_source", "string"}}) {
    inlet::schema::Column c;
    c.name = n;
    c.type = inlet::schema::ParseType(ty).value();
    reg.schema.columns.push_back(c);
  }
  reg.partition_keys = {{"year", "bigint", false, "", false},
                        {"month", "bigint", false, "", false},
                        {"day", "bigint", false, "", false}};
  inlet::lake::LakeConfig lc;
  lc.query.threads = threads;
  lc.query.memory_limit = 1ull << 30;
  auto service = inlet::lake::LakeService::Open(lc, lake, {reg});
  if (!service.ok()) {
    std::fprintf(stderr, "open: %s\n", service.status().ToString().c_str());
    return 1;
  }
  // The baseline gets the same memory limit.
  Check(duckdb_query(conn, "SET memory_limit = '1GiB'", &r), &r, "set");
  duckdb_destroy_result(&r);

  struct Q {
    const char* name;
    std::string sql;
  };
  // Presence: distinct persons per POI cell and gender (the dashboard's main chart).
  const std::string presence =
      "SELECT round(lat, 3) AS poi_lat, round(lon, 3) AS poi_lon, gender, count(DISTINCT user_id) "
      "AS persons "
      "FROM raw.events WHERE ";
  std::vector<Q> queries = {
      {"presence_day",
       presence + "year = 2024 AND month = 5 AND day = 15 GROUP BY ALL ORDER BY ALL"},
      {"presence_month", presence + "year = 2024 AND month = 5 GROUP BY ALL ORDER BY ALL"},
      {"age_by_gender_day",
       "SELECT gender, (age // 10) * 10 AS band, count(*) AS events FROM raw.events "
       "WHERE day = 15 GROUP BY ALL ORDER BY ALL"},
  };
  std::string direct = "read_parquet('" + (lake / "raw/events").string() +
                       "/**/*.parquet', hive_partitioning = true)";

  std::printf(
      "bench/query: %llu raw events over %d days (generated in %.1f s), %d threads, median of %d "
      "runs%s\n\n",
      static_cast<unsigned long long>(events), days, gen_s, threads, runs,
      reuse ? " (lake reused)" : "");
  std::printf("%-20s %10s %10s %7s %12s %12s %7s %6s\n", "query", "inlet ms", "duckdb ms", "ratio",
              "inlet cpu ms", "duckdb cpu", "ratio", "rows");
  std::vector<std::string> bench_lines;
  auto bench_line = [&](const std::string& metric, double value, double baseline) {
    char line[512];
    std::snprintf(line, sizeof(line),
                  "BENCH {\"bench\":\"query\",\"metric\":\"%s_ms\",\"value\":%.2f,\"unit\":\"ms\","
                  "\"baseline_metric\":\"duckdb_direct_%s_ms\",\"baseline\":%.2f,\"ratio\":%.4f}",
                  metric.c_str(), value, metric.c_str(), baseline, value / baseline);
    bench_lines.push_back(line);
  };
  for (const auto& q : queries) {
    std::vector<double> ours, base, ours_cpu, base_cpu;
    size_t rows = 0;
    std::string base_sql = Replace(q.sql, "raw.events", direct);
    auto run_ours = [&](double* wall, double* cpu) {
      double c0 = CpuMs();
      auto s = Clock::now();
      auto res = (*service)->engine()->Query(q.sql, 100000);
      *wall = std::chrono::duration<double, std::milli>(Clock::now() - s).count();
      *cpu = CpuMs() - c0;
      if (!res.ok()) {
        std::fprintf(stderr, "%s: %s\n", q.name, res.status().ToString().c_str());
        std::exit(1);
      }
      rows = res->rows.size();
    };
    auto run_base = [&](double* wall, double* cpu) {
      double c0 = CpuMs();
      auto s = Clock::now();
      duckdb_result br;
      Check(duckdb_query(conn, base_sql.c_str(), &br), &br, q.name);
      // Read every value as the engine does, so both sides produce the rows.
      for (idx_t row = 0; row < duckdb_row_count(&br); ++row) {
        for (idx_t c = 0; c < duckdb_column_count(&br); ++c)
          duckdb_free(duckdb_value_varchar(&br, c, row));
      }
      duckdb_destroy_result(&br);
      *wall = std::chrono::duration<double, std::milli>(Clock::now() - s).count();
      *cpu = CpuMs() - c0;
    };
    for (int i = 0; i < runs + 1; ++i) {  // the first run warms the file cache
      double ow, oc, bw, bc;
      // Alternate which side goes first, so neither always runs after the other.
      if (i % 2 == 0) {
        run_ours(&ow, &oc);
        run_base(&bw, &bc);
      } else {
        run_base(&bw, &bc);
        run_ours(&ow, &oc);
      }
      if (i > 0) {
        ours.push_back(ow);
        base.push_back(bw);
        ours_cpu.push_back(oc);
        base_cpu.push_back(bc);
      }
    }
    double o = Median(ours), b = Median(base);
    double oc = Median(ours_cpu), bc = Median(base_cpu);
    std::printf("%-20s %10.1f %10.1f %7.3f %12.1f %12.1f %7.3f %6zu\n", q.name, o, b, o / b, oc, bc,
                oc / bc, rows);
    std::printf("%-20s %10s %10s\n", "  (min-max)",
                (Fixed(*std::min_element(ours.begin(), ours.end())) + "-" +
                 Fixed(*std::max_element(ours.begin(), ours.end())))
                    .c_str(),
                (Fixed(*std::min_element(base.begin(), base.end())) + "-" +
                 Fixed(*std::max_element(base.begin(), base.end())))
                    .c_str());
    bench_line(q.name, o, b);
    bench_line(std::string(q.name) + "_cpu", oc, bc);
  }
  std::printf("\n");
  for (const auto& l : bench_lines) std::printf("%s\n", l.c_str());
  service->reset();
  duckdb_disconnect(&conn);
  duckdb_close(&db);
  if (keep.empty()) fs::remove_all(dir);
  return 0;
}
