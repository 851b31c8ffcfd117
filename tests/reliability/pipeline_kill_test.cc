// The whole pipeline under SIGKILL: one inlet process runs ingest, a delivery
// stream to the raw lake and a processor (validation, masking, people near
// points of interest in 2 s windows). Several producer threads send app
// events (person, age, gender, a position at or between POIs; 2 % invalid)
// and retry every batch that was not acknowledged, while inlet is killed at
// random moments (seeded, printed) and restarted, 20 times. A last clean run
// drains everything. Then, over the lake with DuckDB:
// - raw lake: every acknowledged id exactly once, unacknowledged ids at most
//   once, nothing that was never sent;
// - curated/events: every acknowledged valid event exactly once, and exactly
//   the valid events of the raw lake; invalid ones in errors/<category> once;
// - curated/poi_presence: no duplicate window row, and every row equal to the
//   counts recomputed from the raw lake with the same radius, window, age
//   band and gender rules (so each person-window is counted exactly once).
#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/clock.h"
#include "http/http_client.h"
#include "support/duckdb_query.h"
#include "support/pipeline_checks.h"

namespace inlet::testing {
namespace {
namespace fs = std::filesystem;

const char* kConfig = R"(tables:
  raw.events:
    columns:
      - {name: event_id, type: string, required: true}
      - {name: user_id, type: string, required: true}
      - {name: event_type, type: string, enum: [location, app_open, app_close]}
      - {name: ts, type: timestamp, required: true, format: rfc3339}
      - {name: lat, type: double, required: true, min: -90, max: 90}
      - {name: lon, type: double, required: true, min: -180, max: 180}
      - {name: accuracy_m, type: double, min: 0, max: 10000}
      - {name: age, type: int, min: 0, max: 120}
      - {name: gender, type: string}
      - {name: device, type: "struct<os:string,model:string>"}
topics:
  events: {segment_bytes: 8MiB}
subscriptions:
  raw-delivery: {topic: events, visibility_timeout: 60s}
  processing: {topic: events, visibility_timeout: 30s}
delivery_streams:
  raw-events:
    subscription: raw-delivery
    table: raw.events
    buffer_interval: 1s
    buffer_size: 1MiB
    idle_flush: 1s
    time_field: ts
processors:
  presence:
    subscription: processing
    table: raw.events
    mapping:
      event_id: $.event_id
      user_id: $.user_id
      event_type: $.event_type
      ts: $.ts
      lat: $.lat
      lon: $.lon
      age: {path: $.age, derive: age}
      gender: {path: $.gender, derive: gender}
      os: $.device.os
    masking:
      key_file: pseudonym.key
      create_key: true
      key_id: pipeline-1
      rules:
        - {column: user_id, op: pseudonym}
        - {column: age, op: generalize_age}
        - {column: lat, op: coarsen_location, lon_column: lon, grid_m: 250}
    aggregate:
      poi_file: pois.csv
      window: 2s
      allowed_lateness: 15s
      idle_close: 5s
      age_bands: [18, 25, 35, 45, 55, 65]
    workers: {min: 1, max: 2, target_backlog_per_worker: 2000, scale_out_cooldown: 0s,
              scale_in_cooldown: 5s, fetch_max_messages: 500, fetch_wait: 50ms}
)";

struct Poi {
  const char* id;
  const char* name;
  double lat, lon, radius_m;
  const char* category;
};
constexpr Poi kPois[] = {
    {"times-sq", "Times Square", 40.7580, -73.9855, 150, "landmark"},
    {"grand-central", "Grand Central Terminal", 40.7527, -73.9772, 120, "station"},
    {"bryant-park", "Bryant Park", 40.7536, -73.9832, 100, "park"},
    {"empire-state", "Empire State Building", 40.7484, -73.9857, 80, "landmark"},
    {"moma", "Museum of Modern Art", 40.7614, -73.9776, 90, "museum"},
};

constexpr double kEarthRadiusM = 6371008.8;
constexpr double kPi = 3.14159265358979323846;

double Meters(double lat1, double lon1, double lat2, double lon2) {
  const double r = kPi / 180, dlat = (lat2 - lat1) * r, dlon = (lon2 - lon1) * r;
  const double h =
      std::sin(dlat / 2) * std::sin(dlat / 2) +
      std::cos(lat1 * r) * std::cos(lat2 * r) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadiusM * std::asin(std::sqrt(h));
}

struct Person {
  std::string user_id;
  int age = -1;        // -1: not sent
  std::string gender;  // "" : not sent
  int place = -1;      // index of kPois, -1: between POIs
};

// A population with a plausible spread of ages and genders, as an app sees it
// (some users do not give their age or gender, some spell it their way).
std::vector<Person> MakePersons(int n, std::mt19937& rng) {
  const int band_lo[] = {13, 18, 25, 35, 45, 55, 65};
  const int band_hi[] = {17, 24, 34, 44, 54, 64, 85};
  std::discrete_distribution<int> band({5, 18, 24, 20, 15, 10, 8});
  const char* genders[] = {"female", "male", "F", "m", "Woman", " male ", "2", "other", ""};
  std::discrete_distribution<int> gender({40, 38, 5, 5, 2, 2, 1, 2, 5});
  std::vector<Person> persons(n);
  for (int i = 0; i < n; ++i) {
    Person& p = persons[i];
    p.user_id = "user-" + std::to_string(100000 + i);
    if (rng() % 100 >= 8) {
      const int b = band(rng);
      p.age = band_lo[b] + static_cast<int>(rng() % (band_hi[b] - band_lo[b] + 1));
    }
    p.gender = genders[gender(rng)];
    p.place = static_cast<int>(rng() % (std::size(kPois) + 1)) - 1;
  }
  return persons;
}

// A position well inside a POI's radius (at most 0.6 of it), or, for place
// -1, one at least 1.5 radii from every POI: no event is near a border, so a
// recomputation in SQL cannot disagree with inlet's S2 lookup by rounding.
std::pair<double, double> Position(int place, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  if (place >= 0) {
    const Poi& poi = kPois[place];
    const double d = 0.6 * poi.radius_m * std::sqrt(u(rng)), a = 2 * kPi * u(rng);
    return {poi.lat + d * std::cos(a) / 111320.0,
            poi.lon + d * std::sin(a) / (111320.0 * std::cos(poi.lat * kPi / 180))};
  }
  for (;;) {
    const double lat = 40.745 + 0.02 * u(rng), lon = -73.992 + 0.022 * u(rng);
    bool clear = true;
    for (const Poi& poi : kPois) clear &= Meters(lat, lon, poi.lat, poi.lon) > 1.5 * poi.radius_m;
    if (clear) return {lat, lon};
  }
}

constexpr int kProducers = 4;

struct ProducerStats {
  std::atomic<uint64_t> requests{0}, refused{0}, back_pressure{0}, unknown{0}, unexpected{0};
  std::atomic<int64_t> max_ack_lag_us{0};  // event time to acknowledgement, worst batch
};

// One app backend: sends NDJSON batches of its persons' events at `rate`
// events/s, each on a fresh connection (so a failed connect proves nothing
// was sent). A batch is retried until acknowledged: with the same ids after a
// refused connection or a 429/503/507 (nothing stored), with new ids after a
// request whose answer was lost (it may be stored: the old ids are recorded
// as unknown, and the same ids are never sent twice).
void Produce(int producer, uint16_t port, uint32_t seed, double rate,
             const std::vector<Person>& all_persons, IdLedger* ledger,
             std::set<std::string>* invalid_ids, std::mutex* invalid_mu, ProducerStats* stats,
             const std::atomic<bool>* stop) {
  constexpr int kBatch = 100;
  std::mt19937 rng(seed * 31 + producer);
  std::vector<Person> persons;
  for (size_t i = producer; i < all_persons.size(); i += kProducers)
    persons.push_back(all_persons[i]);
  http::HttpClient client("127.0.0.1", port, std::chrono::seconds(20));
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", "application/x-ndjson"},
      {"Authorization", std::string("Bearer ") + kTestKey}};
  const std::string prefix = "p" + std::to_string(producer) + "-";
  uint64_t next_id = 0;
  const auto interval = std::chrono::microseconds(static_cast<int64_t>(1e6 * kBatch / rate));
  auto next_send = std::chrono::steady_clock::now();
  while (!stop->load()) {
    // A batch of events as the app produced them (the event time stays the
    // same however long the retries take).
    const int64_t created_us = NowMicros();
    const std::string ts = FormatRfc3339Micros(created_us);
    std::vector<std::string> bodies;  // each event without its id
    std::vector<bool> invalid;
    for (int i = 0; i < kBatch; ++i) {
      Person& p = persons[rng() % persons.size()];
      if (rng() % 100 < 15) p.place = static_cast<int>(rng() % (std::size(kPois) + 1)) - 1;
      auto [lat, lon] = Position(p.place, rng);
      const int defect = rng() % 100 < 2 ? 1 + static_cast<int>(rng() % 3) : 0;
      char pos[96];
      std::snprintf(pos, sizeof(pos), "\"lat\":%.6f,\"lon\":%.6f,\"accuracy_m\":%.1f",
                    defect == 1 ? 95.0 + lat / 100 : lat, lon, 3.0 + (rng() % 400) / 10.0);
      std::string e = "\"user_id\":\"" + p.user_id + "\",\"event_type\":\"" +
                      (defect == 2  ? "teleport"
                       : rng() % 10 ? "location"
                                    : "app_open") +
                      "\",\"ts\":\"" + ts + "\"," + pos;
      if (defect == 3)
        e += ",\"age\":150";
      else if (p.age >= 0)
        e += ",\"age\":" + std::to_string(p.age);
      if (!p.gender.empty()) e += ",\"gender\":\"" + p.gender + "\"";
      e += rng() % 2 ? R"(,"device":{"os":"android","model":"Pixel 8"}})"
                     : R"(,"device":{"os":"ios","model":"iPhone 15"}})";
      bodies.push_back(std::move(e));
      invalid.push_back(defect != 0);
    }
    std::vector<std::string> ids;
    auto new_ids = [&] {
      ids.clear();
      std::lock_guard lock(*invalid_mu);
      for (int i = 0; i < kBatch; ++i) {
        ids.push_back(prefix + std::to_string(next_id++));
        if (invalid[i]) invalid_ids->insert(ids.back());
      }
    };
    new_ids();
    while (!stop->load()) {
      std::string body;
      for (int i = 0; i < kBatch; ++i)
        body += "{\"event_id\":\"" + ids[i] + "\"," + bodies[i] + "\n";
      client.Close();
      stats->requests++;
      auto r = client.Request("POST", "/v1/topics/events/events", body, headers);
      if (r.ok() && r->status == 200) {
        if (r->body.find("\"accepted\":" + std::to_string(kBatch)) == std::string::npos) {
          ADD_FAILURE() << "not every event accepted: " << r->body;
        }
        ledger->Acked(ids);
        const int64_t lag = NowMicros() - created_us;
        int64_t prev = stats->max_ack_lag_us.load();
        while (lag > prev && !stats->max_ack_lag_us.compare_exchange_weak(prev, lag)) {
        }
        break;
      }
      if (!r.ok() && r.status().message().rfind("connect to", 0) == 0) {
        stats->refused++;  // inlet is down: nothing was sent
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      } else if (r.ok() && (r->status == 429 || r->status == 503 || r->status == 507)) {
        stats->back_pressure++;  // refused, nothing stored
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      } else {
        // Sent, answer lost (or an unexpected answer): maybe stored.
        (r.ok() ? stats->unexpected : stats->unknown)++;
        if (r.ok()) ADD_FAILURE() << "unexpected answer " << r->status << ": " << r->body;
        ledger->Unknown(ids);
        new_ids();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    next_send += interval;
    const auto now = std::chrono::steady_clock::now();
    if (next_send < now) next_send = now;  // after an outage: no burst to catch up
    std::this_thread::sleep_until(next_send);
  }
}

uint32_t SeedFromEnvironment() {
  if (const char* s = std::getenv("INLET_KILL_SEED")) return static_cast<uint32_t>(std::stoul(s));
  return std::random_device{}();
}

const char* kAgeBand =
    "CASE WHEN age IS NULL THEN 'unknown' WHEN age < 18 THEN '0-17' WHEN age < 25 THEN '18-24' "
    "WHEN age < 35 THEN '25-34' WHEN age < 45 THEN '35-44' WHEN age < 55 THEN '45-54' "
    "WHEN age < 65 THEN '55-64' ELSE '65+' END";
const char* kGender =
    "CASE WHEN lower(trim(gender)) IN ('f', 'female', 'woman', 'w', '2') THEN 'female' "
    "WHEN lower(trim(gender)) IN ('m', 'male', 'man', '1') THEN 'male' ELSE 'unknown' END";
const char* kValid =
    "lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180 AND "
    "(accuracy_m IS NULL OR accuracy_m BETWEEN 0 AND 10000) AND (age IS NULL OR age BETWEEN 0 AND "
    "120) AND (event_type IS NULL OR event_type IN ('location', 'app_open', 'app_close'))";

TEST(PipelineKillTest, AcknowledgedEventsAreExactlyOnceInRawCuratedAndPresenceAfter20Kills) {
  const auto started = std::chrono::steady_clock::now();
  const uint32_t seed = SeedFromEnvironment();
  std::printf("seed %u (INLET_KILL_SEED=%u gives the same kill schedule and event generator)\n",
              seed, seed);
  RecordProperty("seed", std::to_string(seed));
  TempDir dir;
  std::string csv = "id,name,lat,lon,radius_m,category\n";
  for (const Poi& p : kPois) {
    csv += std::string(p.id) + "," + p.name + "," + std::to_string(p.lat) + "," +
           std::to_string(p.lon) + "," + std::to_string(p.radius_m) + "," + p.category + "\n";
  }
  WriteFile(dir.path() / "pois.csv", csv);
  const int port = FreePort();
  const std::string config = TestConfig(port, dir.path() / "data", kConfig);

  std::mt19937 rng(seed);
  const std::vector<Person> persons = MakePersons(400, rng);
  IdLedger ledger;
  std::set<std::string> invalid_ids;
  std::mutex invalid_mu;
  ProducerStats stats;
  std::atomic<bool> stop{false};
  std::vector<std::thread> producers;
  for (int i = 0; i < kProducers; ++i) {
    producers.emplace_back(Produce, i, static_cast<uint16_t>(port), seed, 800.0, std::cref(persons),
                           &ledger, &invalid_ids, &invalid_mu, &stats, &stop);
  }
  const KillPlan plan{.rounds = 20,
                      .seed = seed,
                      .min_up = std::chrono::milliseconds(200),
                      .spread = std::chrono::milliseconds(3000)};
  const bool killed = KillRepeatedly(dir.path(), config, port, plan, nullptr);
  stop = true;
  for (auto& t : producers) t.join();
  ASSERT_TRUE(killed);
  const auto kill_phase = std::chrono::steady_clock::now();
  ASSERT_GT(ledger.acked().size(), 20000u) << "too few acknowledged events to prove anything";

  // A last clean run: both consumers drain, every window closes, then a clean stop.
  {
    InletProcess inlet(dir.path(), config, port);
    ASSERT_TRUE(inlet.WaitReady()) << inlet.Log();
    std::string last;
    ASSERT_TRUE(WaitForDrained(inlet, "raw-delivery", std::chrono::seconds(120), &last))
        << "delivery did not catch up: " << last;
    ASSERT_TRUE(WaitForDrained(inlet, "processing", std::chrono::seconds(120), &last))
        << "processing did not catch up: " << last;
    ASSERT_TRUE(WaitForBody(inlet, "/metrics",
                            "inlet_process_open_windows{processor=\"presence\"} 0\n",
                            std::chrono::seconds(30), &last))
        << "windows still open";
    inlet.Kill(SIGTERM);
    EXPECT_EQ(inlet.Wait(), 0) << "no clean stop:\n" << inlet.Log();
  }
  const auto drained = std::chrono::steady_clock::now();

  std::set<std::string> acked_valid, unknown_valid, acked_invalid, unknown_invalid;
  for (const auto& id : ledger.acked())
    (invalid_ids.count(id) ? acked_invalid : acked_valid).insert(id);
  for (const auto& id : ledger.unknown())
    (invalid_ids.count(id) ? unknown_invalid : unknown_valid).insert(id);
  ASSERT_GT(acked_invalid.size(), 0u);

  const fs::path lake = dir.path() / "data" / "lake";
  // Raw lake: every acknowledged event once, whatever its content.
  const IdCounts raw = CountIds(lake / "raw" / "events", "event_id");
  ExpectExactlyOnce(raw, ledger.acked(), ledger.unknown(), "raw lake");
  EXPECT_FALSE(HasParquet(lake / "errors" / "format-conversion-failed"))
      << "the delivery stream could not convert some events";

  // Curated: every acknowledged valid event once, and exactly the valid
  // events of the raw lake (an unacknowledged event stored by ingest is in
  // both or in neither).
  const IdCounts curated = CountIds(lake / "curated" / "events", "event_id");
  ExpectExactlyOnce(curated, acked_valid, unknown_valid, "curated/events");
  const std::string raw_scan = ParquetScan(lake / "raw" / "events");
  const std::string curated_scan = ParquetScan(lake / "curated" / "events");
  ExpectSameRows("SELECT event_id FROM " + curated_scan,
                 "SELECT event_id FROM " + raw_scan + " WHERE " + kValid,
                 "curated/events against the valid events of the raw lake");
  auto raw_users =
      DuckQuery("SELECT count(*) FROM " + curated_scan + " WHERE length(user_id) <> 32");
  EXPECT_EQ(raw_users[0][0], "0") << "user ids not pseudonymised";
  EXPECT_FALSE(HasParquet(lake / "errors" / "late_event"))
      << "events arrived after their window was emitted (retries slower than allowed_lateness?)";
  // Invalid events: once each in the errors area of their category.
  IdCounts rejected =
      CountIds(lake / "errors" / "out_of_range", "json_extract_string(payload, '$.event_id')");
  AddCounts(&rejected, CountIds(lake / "errors" / "invalid_value",
                                "json_extract_string(payload, '$.event_id')"));
  ExpectExactlyOnce(rejected, acked_invalid, unknown_invalid,
                    "errors/out_of_range + invalid_value");

  // poi_presence: one row per (window, POI, age band, gender), equal to the
  // counts recomputed from the raw lake.
  const std::string presence = ParquetScan(lake / "curated" / "poi_presence");
  ExpectUniqueKeys(presence, "window_start, poi_id, age_band, gender", "poi_presence");
  const std::string expected =
      "WITH poi AS (SELECT * FROM read_csv('" + (dir.path() / "pois.csv").string() +
      "', header = true, columns = {'id': 'VARCHAR', 'name': 'VARCHAR', 'lat': 'DOUBLE', 'lon': "
      "'DOUBLE', 'radius_m': 'DOUBLE', 'category': 'VARCHAR'})), "
      "valid AS (SELECT * FROM " +
      raw_scan + " WHERE " + kValid +
      "), hits AS (SELECT e.*, p.id AS poi_id, p.name AS poi_name FROM valid e JOIN poi p ON " +
      std::to_string(2 * kEarthRadiusM) +
      " * asin(sqrt(pow(sin(radians(e.lat - p.lat) / 2), 2) + cos(radians(e.lat)) * "
      "cos(radians(p.lat)) * pow(sin(radians(e.lon - p.lon) / 2), 2))) <= p.radius_m) SELECT "
      "time_bucket(INTERVAL 2 seconds, ts) AS window_start, poi_id, poi_name, " +
      kAgeBand + " AS age_band, " + kGender +
      " AS gender, count(DISTINCT user_id) AS persons, count(*) AS events FROM hits GROUP BY ALL";
  ExpectSameRows(
      "SELECT CAST(window_start AS TIMESTAMP), poi_id, poi_name, age_band, gender, "
      "CAST(persons AS BIGINT), CAST(events AS BIGINT) FROM " +
          presence,
      expected, "poi_presence against the raw lake");
  auto totals = DuckQuery("SELECT count(*), sum(events), count(DISTINCT poi_id) FROM " + presence);
  EXPECT_EQ(totals[0][2], std::to_string(std::size(kPois)));

  const auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  std::printf(
      "seed %u: %zu acknowledged (%zu invalid), %zu unknown (requests cut by SIGKILL), raw lake "
      "%zu "
      "ids, curated %zu, poi_presence %s rows / %s events; requests %llu, refused while down "
      "%llu, back-pressure %llu, lost answers %llu, slowest acknowledgement %.1f s after the event "
      "time; kill phase %.1f s, drain %.1f s, checks "
      "%.1f s\n",
      seed, ledger.acked().size(), acked_invalid.size(), ledger.unknown().size(), raw.size(),
      curated.size(), totals[0][0].c_str(), totals[0][1].c_str(),
      static_cast<unsigned long long>(stats.requests.load()),
      static_cast<unsigned long long>(stats.refused.load()),
      static_cast<unsigned long long>(stats.back_pressure.load()),
      static_cast<unsigned long long>(stats.unknown.load()), stats.max_ack_lag_us.load() / 1e6,
      secs(started, kill_phase), secs(kill_phase, drained),
      secs(drained, std::chrono::steady_clock::now()));
}

}  // namespace
}  // namespace inlet::testing
