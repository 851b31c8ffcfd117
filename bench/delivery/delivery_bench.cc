// bench/delivery: events/s and MB/s from bus messages (~330-byte JSON events)
// to a partitioned Parquet lake through a DeliveryStream on one core, next to
// DuckDB's own path over the same events in the same run: read_json of an
// NDJSON file + COPY ... (FORMAT parquet, PARTITION_BY ...), one thread.
#include <duckdb.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "delivery/delivery_stream.h"
#include "schema/json_converter.h"
#include "storage/local_object_store.h"

namespace {

using namespace inlet;
namespace fs = std::filesystem;

constexpr int64_t kStartUs = 1709632800000000;  // 2024-03-05T10:00:00Z

class VectorConsumer : public bus::Consumer {
 public:
  explicit VectorConsumer(const std::vector<bus::Message>* messages) : messages_(messages) {}
  const std::string& name() const override { return name_; }
  Result<std::vector<bus::Delivery>> Fetch(const bus::FetchOptions& o) override {
    std::vector<bus::Delivery> out;
    out.reserve(std::min(o.max_messages, messages_->size() - next_));
    while (next_ < messages_->size() && out.size() < o.max_messages) {
      const bus::Message& m = (*messages_)[next_++];
      out.push_back(bus::Delivery{m, bus::Receipt{m.seq, 1}});
    }
    return out;
  }
  Status Ack(std::span<const bus::Receipt> r) override {
    acked_ += r.size();
    return Status::Ok();
  }
  Status Nack(std::span<const bus::Receipt>, bus::Millis) override { return Status::Ok(); }
  bus::SubscriptionStats Stats() const override { return {}; }
  size_t acked() const { return acked_; }

 private:
  std::string name_ = "bench";
  const std::vector<bus::Message>* messages_;
  size_t next_ = 0;
  size_t acked_ = 0;
};

std::string MakeEvent(std::mt19937_64& rng, uint64_t i) {
  static const char* kOs[] = {"ios", "android", "web"};
  static const char* kGender[] = {"female", "male", "unknown"};
  std::uniform_real_distribution<double> lat(40.60, 40.85), lon(-74.05, -73.85), acc(3, 50);
  char buf[512];
  int n = std::snprintf(
      buf, sizeof(buf),
      R"({"event_id":"%016llx-%08llx","user_id":"user-%06llu","event_type":"location",)"
      R"("ts":"2024-03-05T10:%02llu:%02llu.%03lluZ","lat":%.6f,"lon":%.6f,"accuracy_m":%.1f,)"
      R"("age":%llu,"gender":"%s","device":{"os":"%s","model":"Pixel 7","app_version":"4.2.%llu"},)"
      R"("battery":%llu,"tags":["commute","foreground"]})",
      static_cast<unsigned long long>(rng()), static_cast<unsigned long long>(i),
      static_cast<unsigned long long>(rng() % 200000),
      static_cast<unsigned long long>((i / 60000) % 60),
      static_cast<unsigned long long>((i / 1000) % 60), static_cast<unsigned long long>(i % 1000),
      lat(rng), lon(rng), acc(rng), static_cast<unsigned long long>(18 + rng() % 60),
      kGender[rng() % 3], kOs[rng() % 3], static_cast<unsigned long long>(rng() % 10),
      static_cast<unsigned long long>(rng() % 100));
  return std::string(buf, static_cast<size_t>(n));
}

schema::TableSchema EventsTable() {
  schema::TableSchema t;
  t.database = "raw";
  t.name = "events";
  auto add = [&](const char* name, const char* type) {
    t.columns.push_back(schema::Column{name, *schema::ParseType(type)});
  };
  add("event_id", "string");
  add("user_id", "string");
  add("event_type", "string");
  add("ts", "timestamp");
  add("lat", "double");
  add("lon", "double");
  add("accuracy_m", "double");
  add("age", "int");
  add("gender", "string");
  add("device", "struct<os:string,model:string,app_version:string>");
  add("battery", "int");
  add("tags", "array<string>");
  return t;
}

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

bool DuckQuery(duckdb_connection c, const std::string& sql) {
  duckdb_result r;
  bool ok = duckdb_query(c, sql.c_str(), &r) == DuckDBSuccess;
  if (!ok) std::fprintf(stderr, "DuckDB: %s\n", duckdb_result_error(&r));
  duckdb_destroy_result(&r);
  return ok;
}

void Bench(const char* metric, double value, const char* unit, const char* baseline_metric,
           double baseline) {
  std::printf(
      "BENCH "
      "{\"bench\":\"delivery\",\"metric\":\"%s\",\"value\":%.1f,\"unit\":\"%s\",\"baseline_"
      "metric\":\"%s\","
      "\"baseline\":%.1f,\"ratio\":%.3f}\n",
      metric, value, unit, baseline_metric, baseline, baseline > 0 ? value / baseline : 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  size_t events = 1'000'000;
  bool stream_only = false;   // for profiling the stream alone
  int compression_level = 0;  // --compression-level N: the stream's zstd level (0: default)
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--events") == 0 && i + 1 < argc) events = std::stoull(argv[i + 1]);
    if (std::strcmp(argv[i], "--stream-only") == 0) stream_only = true;
    if (std::strcmp(argv[i], "--compression-level") == 0 && i + 1 < argc)
      compression_level = std::atoi(argv[i + 1]);
  }
  fs::path dir = fs::temp_directory_path() / ("inlet-bench-delivery-" + std::to_string(::getpid()));
  fs::create_directories(dir);

  std::mt19937_64 rng(42);
  std::vector<bus::Message> messages(events);
  uint64_t payload_bytes = 0;
  for (size_t i = 0; i < events; ++i) {
    messages[i].seq = i + 1;
    messages[i].arrival_us = kStartUs + static_cast<int64_t>(i);  // 1M events/s arrival rate
    messages[i].payload = MakeEvent(rng, i);
    payload_bytes += messages[i].payload.size();
  }
  const double mb = static_cast<double>(payload_bytes) / (1 << 20);

  // 1. Conversion alone (JSON -> columns), for the breakdown.
  schema::TableSchema table = EventsTable();
  double convert_s;
  {
    schema::RecordConverter converter(&table);
    schema::ColumnBatch batch(&table);
    schema::ConversionError error;
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& m : messages) {
      if (!converter.Convert(m.payload, &batch, nullptr, &error)) {
        std::fprintf(stderr, "conversion failed: %s\n", error.ToString().c_str());
        return 1;
      }
      // Batches of 10k rows that keep their buffers, as a stream's do
      // between files: the figure is the conversion's, not page faults'.
      if (batch.rows() == 10000) batch.Truncate(0);
    }
    convert_s = Seconds(t0, std::chrono::steady_clock::now());
  }

  // 2. The delivery stream: messages -> partitioned Parquet lake, committed and acked.
  double stream_s;
  uint64_t parquet_bytes = 0, files = 0;
  {
    auto store = storage::LocalObjectStore::Open(dir / "lake");
    delivery::DeliveryStreamConfig c;
    c.name = "bench";
    c.subscription = "bench";
    c.table = table;
    c.buffer_interval = std::chrono::seconds(900);
    c.buffer_size_bytes = 128ull << 20;
    c.max_buffered_bytes = 512ull << 20;
    c.max_file_bytes = 512ull << 20;
    c.fetch_max_messages = 10000;
    c.compression_level = compression_level;
    VectorConsumer consumer(&messages);
    delivery::DeliveryStreamOptions o;
    o.fetch_wait = bus::Millis(0);
    auto t0 = std::chrono::steady_clock::now();
    auto stream = delivery::DeliveryStream::Create(c, &consumer, store->get(), o);
    if (!stream.ok()) {
      std::fprintf(stderr, "%s\n", stream.status().ToString().c_str());
      return 1;
    }
    while ((*stream)->Metrics().events_received < events) {
      Status st = (*stream)->PollOnce();
      if (!st.ok()) {
        std::fprintf(stderr, "%s\n", st.ToString().c_str());
        return 1;
      }
    }
    auto t_flush = std::chrono::steady_clock::now();
    Status st = (*stream)->Flush();
    stream_s = Seconds(t0, std::chrono::steady_clock::now());
    std::printf("stream: %.3f s buffering (convert + partition), final flush %.3f s\n",
                Seconds(t0, t_flush), Seconds(t_flush, std::chrono::steady_clock::now()));
    if (!st.ok() || consumer.acked() != events) {
      std::fprintf(stderr, "flush: %s, acked %zu of %zu\n", st.ToString().c_str(), consumer.acked(),
                   events);
      return 1;
    }
    auto m = (*stream)->Metrics();
    parquet_bytes = m.bytes_written;
    files = m.files_written;
  }

  // 3. Baseline: DuckDB's own path over the same events, one thread.
  double duck_s = 1, writer_s = 1, one_file_s = 1;
  if (!stream_only) {
    fs::path ndjson = dir / "events.ndjson";
    {
      std::ofstream out(ndjson, std::ios::binary);
      for (const auto& m : messages) out << m.payload << '\n';
    }
    duckdb_database db;
    duckdb_connection conn;
    duckdb_open(nullptr, &db);
    duckdb_connect(db, &conn);
    DuckQuery(conn, "SET threads = 1");
    std::string sql =
        "COPY (SELECT *, strftime(ts, '%Y') AS year, strftime(ts, '%m') AS month, strftime(ts, "
        "'%d') AS day "
        "FROM read_json('" +
        ndjson.string() +
        "', format = 'newline_delimited', columns = {"
        "event_id: 'VARCHAR', user_id: 'VARCHAR', event_type: 'VARCHAR', ts: 'TIMESTAMP', lat: "
        "'DOUBLE', "
        "lon: 'DOUBLE', accuracy_m: 'DOUBLE', age: 'INTEGER', gender: 'VARCHAR', "
        "device: 'STRUCT(os VARCHAR, model VARCHAR, app_version VARCHAR)', battery: 'INTEGER', "
        "tags: 'VARCHAR[]'})) TO '" +
        (dir / "duck").string() +
        "' (FORMAT parquet, PARTITION_BY (year, month, day), COMPRESSION zstd)";
    auto t0 = std::chrono::steady_clock::now();
    bool ok = DuckQuery(conn, sql);
    duck_s = Seconds(t0, std::chrono::steady_clock::now());
    // The same COPY from the events already in a DuckDB table (no JSON): the
    // Parquet writer with DuckDB's PARTITION_BY (partitioning, encoding, zstd).
    const std::string from_json = "FROM read_json(";
    std::string load = "CREATE TABLE ev AS SELECT * " + sql.substr(sql.find(from_json));
    load = load.substr(0, load.find(")) TO '")) + ")";
    std::string copy_table =
        sql.substr(0, sql.find(from_json)) + "FROM ev" + sql.substr(sql.find(")) TO '") + 1);
    const fs::path floor_dir = dir / "duck-floor";
    copy_table.replace(copy_table.find((dir / "duck").string()), (dir / "duck").string().size(),
                       floor_dir.string());
    ok = ok && DuckQuery(conn, load);
    t0 = std::chrono::steady_clock::now();
    ok = ok && DuckQuery(conn, copy_table);
    writer_s = Seconds(t0, std::chrono::steady_clock::now());
    // DuckDB's Parquet writer alone as inlet uses it: one COPY per file, no
    // PARTITION_BY (inlet partitions the rows itself). The ceiling of any
    // path that writes Parquet through DuckDB on one core.
    t0 = std::chrono::steady_clock::now();
    ok = ok && DuckQuery(conn, "COPY ev TO '" + (dir / "duck-one-file.parquet").string() +
                                   "' (FORMAT parquet, COMPRESSION zstd)");
    one_file_s = Seconds(t0, std::chrono::steady_clock::now());
    duckdb_disconnect(&conn);
    duckdb_close(&db);
    if (!ok) return 1;
  }
  fs::remove_all(dir);

  const double n = static_cast<double>(events);
  std::printf("delivery bench: %zu events, %.1f MiB of JSON (%.0f bytes/event), one core\n", events,
              mb, static_cast<double>(payload_bytes) / n);
  std::printf("%-52s %14s %10s %10s\n", "path", "events/s", "MiB/s", "seconds");
  std::printf("%-52s %14.0f %10.1f %10.3f\n", "JSON -> columns (RecordConverter only)",
              n / convert_s, mb / convert_s, convert_s);
  std::printf("%-52s %14.0f %10.1f %10.3f\n", "DeliveryStream: messages -> Parquet lake",
              n / stream_s, mb / stream_s, stream_s);
  std::printf("%-52s %14.0f %10.1f %10.3f\n", "DuckDB read_json + COPY PARTITION_BY", n / duck_s,
              mb / duck_s, duck_s);
  std::printf("%-52s %14.0f %10.1f %10.3f\n", "DuckDB COPY from a table with PARTITION_BY",
              n / writer_s, mb / writer_s, writer_s);
  std::printf("%-52s %14.0f %10.1f %10.3f\n",
              "DuckDB COPY from a table, one file (no PARTITION_BY)", n / one_file_s,
              mb / one_file_s, one_file_s);
  std::printf("files %llu, Parquet %.1f MiB, ratio vs DuckDB %.2fx\n",
              static_cast<unsigned long long>(files),
              static_cast<double>(parquet_bytes) / (1 << 20), duck_s / stream_s);
  Bench("stream_events_per_s", n / stream_s, "events/s", "duckdb_read_json_copy_events_per_s",
        n / duck_s);
  Bench("stream_mib_per_s", mb / stream_s, "MiB/s", "duckdb_read_json_copy_mib_per_s", mb / duck_s);
  Bench("duckdb_copy_table_partition_by_events_per_s", n / writer_s, "events/s",
        "duckdb_read_json_copy_events_per_s", n / duck_s);
  Bench("duckdb_parquet_writer_one_file_events_per_s", n / one_file_s, "events/s",
        "duckdb_read_json_copy_events_per_s", n / duck_s);
  Bench("convert_events_per_s", n / convert_s, "events/s", "duckdb_read_json_copy_events_per_s",
        n / duck_s);
  return 0;
}
