#include "loadgen/app_simulator.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "common/clock.h"
#include "http/http_client.h"

namespace inlet::loadgen {
namespace {

constexpr double kEarthRadiusM = 6371008.8;
constexpr double kPi = 3.14159265358979323846;

std::vector<std::string> SplitCsvLine(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else if (c != '\r') {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

struct Person {
  std::string user_id;
  int age = 30;
  std::string birth_date;  // when set, sent instead of age
  std::string gender;      // as the app spells it; "" when not given
  double lat = 0, lon = 0;
  size_t from = 0, to = 0;
  double depart_at = 0, arrive_at = 0, leave_at = 0;  // simulated seconds
  double jitter_lat = 0, jitter_lon = 0;
};

double Meters(const Poi& a, const Poi& b) {
  const double dlat = (b.lat - a.lat) * kPi / 180, dlon = (b.lon - a.lon) * kPi / 180;
  const double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
                   std::cos(a.lat * kPi / 180) * std::cos(b.lat * kPi / 180) * std::sin(dlon / 2) *
                       std::sin(dlon / 2);
  return 2 * kEarthRadiusM * std::asin(std::sqrt(h));
}

}  // namespace

Result<std::vector<Poi>> LoadPoiCsv(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read " + path.string());
  std::string line;
  if (!std::getline(in, line)) return Status::InvalidArgument(path.string() + " is empty");
  auto header = SplitCsvLine(line);
  auto col = [&](std::initializer_list<const char*> names) -> int {
    for (size_t i = 0; i < header.size(); ++i) {
      for (const char* n : names) {
        if (header[i] == n) return static_cast<int>(i);
      }
    }
    return -1;
  };
  const int id = col({"id", "Station ID"}), name = col({"name", "Stop Name"}),
            lat = col({"lat", "GTFS Latitude"}), lon = col({"lon", "GTFS Longitude"}),
            radius = col({"radius_m"});
  if (lat < 0 || lon < 0 || name < 0) {
    return Status::InvalidArgument(path.string() + ": the header needs name, lat and lon columns");
  }
  std::vector<Poi> pois;
  int line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    auto f = SplitCsvLine(line);
    if (static_cast<int>(f.size()) <= std::max({lat, lon, name, id, radius})) {
      return Status::InvalidArgument(path.string() + ":" + std::to_string(line_no) +
                                     ": too few columns");
    }
    Poi p;
    p.id = id >= 0 ? f[id] : std::to_string(pois.size() + 1);
    p.name = f[name];
    try {
      p.lat = std::stod(f[lat]);
      p.lon = std::stod(f[lon]);
      if (radius >= 0 && !f[radius].empty()) p.radius_m = std::stod(f[radius]);
    } catch (const std::exception&) {
      return Status::InvalidArgument(path.string() + ":" + std::to_string(line_no) +
                                     ": lat, lon and radius_m must be numbers");
    }
    pois.push_back(std::move(p));
  }
  if (pois.empty()) return Status::InvalidArgument(path.string() + " has no points of interest");
  return pois;
}

AppSimulator::AppSimulator(SimulatorOptions options) : options_(std::move(options)) {}
AppSimulator::~AppSimulator() { Stop(); }

void AppSimulator::Start() {
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void AppSimulator::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void AppSimulator::Run() {
  const auto& o = options_;
  if (o.pois.empty() || o.persons == 0) return;
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> unit(0, 1);
  // Age bands of app users, and how people spell their gender.
  const std::vector<std::pair<int, int>> bands = {{16, 24}, {25, 34}, {35, 44},
                                                  {45, 54}, {55, 64}, {65, 85}};
  std::discrete_distribution<int> band_of({15, 26, 21, 16, 12, 10});
  const std::vector<std::string> female = {"female", "F", "woman", "Female"};
  const std::vector<std::string> male = {"male", "M", "man", "Male"};
  const std::vector<std::string> other = {"", "non-binary", "prefer not to say"};
  const int64_t start_us = NowMicros();
  auto sim_now = [&] {
    return (NowMicros() - start_us) / 1e6 * o.time_scale;  // simulated seconds since start
  };
  std::vector<Person> people(o.persons);
  for (uint32_t i = 0; i < o.persons; ++i) {
    Person& p = people[i];
    p.user_id = "user-" + std::to_string(100000 + i);
    auto [lo, hi] = bands[band_of(rng)];
    p.age = lo + static_cast<int>(rng() % (hi - lo + 1));
    if (unit(rng) < 0.3) {
      const int year = 2026 - p.age;
      char buf[48];
      std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d", year - 1 + (rng() % 2 == 0),
                    1 + static_cast<int>(rng() % 12), 1 + static_cast<int>(rng() % 28));
      p.birth_date = buf;
    }
    const double g = unit(rng);
    p.gender = g < 0.48   ? female[rng() % female.size()]
               : g < 0.96 ? male[rng() % male.size()]
                          : other[rng() % other.size()];
    p.from = p.to = rng() % o.pois.size();
    p.leave_at = unit(rng) * 600;  // initial dwell, simulated seconds
    p.jitter_lat = (unit(rng) - 0.5);
    p.jitter_lon = (unit(rng) - 0.5);
  }
  auto position = [&](Person& p, double t) {
    if (t >= p.leave_at && p.arrive_at <= p.leave_at) {  // start a trip
      p.from = p.to;
      do {
        p.to = rng() % o.pois.size();
      } while (o.pois.size() > 1 && p.to == p.from);
      const double speed = unit(rng) < 0.6 ? 1.4 : 4.5;  // walking or cycling, m/s
      p.depart_at = p.leave_at;
      p.arrive_at = p.depart_at + Meters(o.pois[p.from], o.pois[p.to]) / speed;
      p.leave_at = p.arrive_at + 120 + unit(rng) * 1200;  // dwell 2-22 minutes
      p.jitter_lat = unit(rng) - 0.5;
      p.jitter_lon = unit(rng) - 0.5;
    }
    const Poi& a = o.pois[p.from];
    const Poi& b = o.pois[p.to];
    double lat, lon, r;
    if (t < p.arrive_at) {  // on the way
      const double f =
          std::clamp((t - p.depart_at) / std::max(1.0, p.arrive_at - p.depart_at), 0.0, 1.0);
      lat = a.lat + (b.lat - a.lat) * f;
      lon = a.lon + (b.lon - a.lon) * f;
      r = 10;
    } else {  // dwelling within the radius
      lat = b.lat;
      lon = b.lon;
      r = b.radius_m * 0.8;
    }
    // Offset of up to r metres, stable during a dwell, plus GPS noise.
    lat += (p.jitter_lat * 2 * r + (unit(rng) - 0.5) * 10) / 111320.0;
    lon += (p.jitter_lon * 2 * r + (unit(rng) - 0.5) * 10) / (111320.0 * std::cos(lat * kPi / 180));
    p.lat = lat;
    p.lon = lon;
  };

  http::HttpClient client(o.host, o.port, std::chrono::seconds(30));
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", "application/x-ndjson"}};
  if (!o.api_key.empty()) headers.emplace_back("Authorization", "Bearer " + o.api_key);
  const std::string target = "/v1/topics/" + o.topic + "/events";
  uint64_t n = 0;
  auto next = std::chrono::steady_clock::now();
  std::string body;
  while (!stop_) {
    next += std::chrono::microseconds(
        static_cast<int64_t>(1e6 * o.batch / std::max(1.0, o.events_per_second)));
    std::this_thread::sleep_until(next);
    const double t = sim_now();
    const std::string ts = FormatRfc3339Micros(start_us + static_cast<int64_t>(t * 1e6));
    body.clear();
    uint32_t invalid = 0, malformed = 0;
    for (uint32_t i = 0; i < o.batch; ++i, ++n) {
      Person& p = people[rng() % people.size()];
      position(p, t);
      char coords[96];
      std::snprintf(coords, sizeof(coords), "\"lat\":%.6f,\"lon\":%.6f", p.lat, p.lon);
      std::string ev = "{\"event_id\":\"ev-" + std::to_string(start_us) + "-" + std::to_string(n) +
                       "\",\"user_id\":\"" + p.user_id +
                       "\",\"event_type\":\"location\",\"ts\":\"" + ts + "\"," + coords +
                       ",\"accuracy_m\":" + std::to_string(5 + rng() % 20);
      ev += p.birth_date.empty() ? ",\"age\":" + std::to_string(p.age)
                                 : ",\"birth_date\":\"" + p.birth_date + "\"";
      if (!p.gender.empty()) ev += ",\"gender\":\"" + p.gender + "\"";
      ev += ",\"email\":\"" + p.user_id + "@example.com\",\"ip\":\"203.0.113." +
            std::to_string(rng() % 254 + 1) + "\",\"device\":{\"os\":\"" +
            (rng() % 2 ? "android" : "ios") + "\",\"os_version\":\"" +
            std::to_string(14 + rng() % 4) + "\",\"model\":\"phone\"}}";
      if (unit(rng) < o.invalid_share) {
        switch (rng() % 5) {
          case 0:  // truncated JSON: refused at ingest
            ev = ev.substr(0, ev.size() / 2);
            ++malformed;
            break;
          case 1:  // missing user id
            ev.replace(ev.find("\"user_id\""), 9, "\"userid\"");
            ++invalid;
            break;
          case 2:  // latitude out of range
            ev.replace(ev.find("\"lat\":"), 6, "\"lat\":1");
            ++invalid;
            break;
          case 3:  // not a timestamp
            ev.replace(ev.find("\"ts\":\""), 6, "\"ts\":\"yesterday-");
            ++invalid;
            break;
          default:  // wrong type
            ev.replace(ev.find("\"accuracy_m\":"), 13, "\"accuracy_m\":\"very good\",\"x\":");
            ++invalid;
            break;
        }
      }
      body += ev;
      body += '\n';
    }
    stats_.sent += o.batch;
    stats_.invalid_sent += invalid;
    auto r = client.Request("POST", target, body, headers);
    if (r.ok() && r->status == 200) {
      stats_.accepted += o.batch - malformed;
      stats_.rejected_at_ingest += malformed;
    } else {
      stats_.failed_requests++;
    }
  }
}

}  // namespace inlet::loadgen
