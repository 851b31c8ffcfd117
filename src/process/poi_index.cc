#include "process/poi_index.h"

#include <s2/s1chord_angle.h>
#include <s2/s2cap.h>
#include <s2/s2cell_id.h>
#include <s2/s2latlng.h>
#include <s2/s2metrics.h>
#include <s2/s2region_coverer.h>
#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <fstream>
#include <numbers>
#include <set>
#include <sstream>

#include "process/masker.h"

namespace inlet::process {
namespace {

// A cap covered at the level of its radius touches at most 3 x 3 cells
// (more only near a cube face's corner); the bound only stops a pathology.
constexpr int kMaxCoveringCells = 64;
constexpr int kMaxCoveringLevel = 22;  // ~2 m cells: finer gives no gain

// One CSV line split into fields ("" quoting, "" inside quotes).
std::vector<std::string> SplitCsvLine(std::string_view line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"')
        out.back().push_back('"'), ++i;
      else if (c == '"')
        quoted = false;
      else
        out.back().push_back(c);
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else if (c != '\r') {
      out.back().push_back(c);
    }
  }
  return out;
}

bool ParseDouble(std::string_view s, double* out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty() && std::isfinite(*out);
}

Status CheckPoi(const Poi& p, const std::string& where) {
  if (p.id.empty()) return Status::InvalidArgument(where + ": id is empty");
  if (!(p.lat >= -90 && p.lat <= 90))
    return Status::InvalidArgument(where + ": lat must be in [-90, 90]");
  if (!(p.lon >= -180 && p.lon <= 180))
    return Status::InvalidArgument(where + ": lon must be in [-180, 180]");
  if (!(p.radius_m > 0 && p.radius_m <= kMaxPoiRadiusMeters)) {
    return Status::InvalidArgument(where + ": radius_m must be in (0, 100000]");
  }
  return Status::Ok();
}

}  // namespace

double HaversineMeters(double lat1, double lon1, double lat2, double lon2) {
  constexpr double kRad = std::numbers::pi / 180.0;
  double dlat = (lat2 - lat1) * kRad, dlon = (lon2 - lon1) * kRad;
  double a = std::sin(dlat / 2) * std::sin(dlat / 2) + std::cos(lat1 * kRad) *
                                                           std::cos(lat2 * kRad) *
                                                           std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadiusMeters * std::asin(std::min(1.0, std::sqrt(a)));
}

Result<std::vector<Poi>> ParsePoiCsv(std::string_view text, double default_radius_m) {
  std::vector<Poi> pois;
  std::vector<std::string> header;
  int col_id = -1, col_name = -1, col_lat = -1, col_lon = -1, col_radius = -1, col_category = -1;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (line.empty() || line == "\r" || line.front() == '#') continue;
    auto fields = SplitCsvLine(line);
    if (header.empty()) {
      header = fields;
      for (size_t i = 0; i < header.size(); ++i) {
        std::string h = header[i];
        for (auto& c : h) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
        int idx = static_cast<int>(i);
        if (h == "id")
          col_id = idx;
        else if (h == "name")
          col_name = idx;
        else if (h == "lat" || h == "latitude")
          col_lat = idx;
        else if (h == "lon" || h == "lng" || h == "longitude")
          col_lon = idx;
        else if (h == "radius_m" || h == "radius")
          col_radius = idx;
        else if (h == "category")
          col_category = idx;
      }
      if (col_id < 0 || col_lat < 0 || col_lon < 0) {
        return Status::InvalidArgument(
            "POI CSV: the header needs id, lat and lon (and may have name, radius_m, category)");
      }
      continue;
    }
    const std::string where = "POI CSV line " + std::to_string(line_no);
    auto field = [&](int i) -> std::string {
      return i >= 0 && i < static_cast<int>(fields.size()) ? fields[i] : "";
    };
    Poi p;
    p.id = field(col_id);
    p.name = field(col_name);
    p.category = field(col_category);
    if (!ParseDouble(field(col_lat), &p.lat) || !ParseDouble(field(col_lon), &p.lon)) {
      return Status::InvalidArgument(where + ": lat and lon must be numbers");
    }
    std::string r = field(col_radius);
    p.radius_m = default_radius_m;
    if (!r.empty() && !ParseDouble(r, &p.radius_m))
      return Status::InvalidArgument(where + ": radius_m must be a number");
    INLET_RETURN_IF_ERROR(CheckPoi(p, where));
    pois.push_back(std::move(p));
    if (pois.size() > kMaxPois) return Status::InvalidArgument("POI CSV: more than 2000000 POIs");
  }
  return pois;
}

Result<std::vector<Poi>> ParsePoiGeoJson(std::string_view text, double default_radius_m) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(text.data(), text.size()).get(root) != simdjson::SUCCESS) {
    return Status::InvalidArgument("POI GeoJSON: not valid JSON");
  }
  simdjson::dom::array features;
  if (root["features"].get_array().get(features) != simdjson::SUCCESS) {
    return Status::InvalidArgument("POI GeoJSON: expected a FeatureCollection with features");
  }
  std::vector<Poi> pois;
  size_t index = 0;
  for (simdjson::dom::element f : features) {
    const std::string where = "POI GeoJSON feature " + std::to_string(index++);
    std::string_view type;
    simdjson::dom::array coords;
    if (f["geometry"]["type"].get_string().get(type) != simdjson::SUCCESS || type != "Point" ||
        f["geometry"]["coordinates"].get_array().get(coords) != simdjson::SUCCESS ||
        coords.size() < 2) {
      continue;  // only points are POIs; other geometries are skipped
    }
    Poi p;
    if (coords.at(0).get_double().get(p.lon) != simdjson::SUCCESS ||
        coords.at(1).get_double().get(p.lat) != simdjson::SUCCESS) {
      return Status::InvalidArgument(where + ": coordinates must be numbers");
    }
    simdjson::dom::object props;
    if (f["properties"].get_object().get(props) != simdjson::SUCCESS) props = {};
    auto text_of = [&](simdjson::dom::element e) -> std::string {
      std::string_view s;
      if (e.get_string().get(s) == simdjson::SUCCESS) return std::string(s);
      if (e.is_number()) return simdjson::minify(e);
      return "";
    };
    simdjson::dom::element e;
    if (props["id"].get(e) == simdjson::SUCCESS) p.id = text_of(e);
    if (p.id.empty() && f["id"].get(e) == simdjson::SUCCESS) p.id = text_of(e);
    if (p.id.empty()) p.id = "feature-" + std::to_string(index - 1);
    if (props["name"].get(e) == simdjson::SUCCESS) p.name = text_of(e);
    if (props["category"].get(e) == simdjson::SUCCESS) p.category = text_of(e);
    p.radius_m = default_radius_m;
    if (props["radius_m"].get(e) == simdjson::SUCCESS &&
        e.get_double().get(p.radius_m) != simdjson::SUCCESS) {
      return Status::InvalidArgument(where + ": radius_m must be a number");
    }
    INLET_RETURN_IF_ERROR(CheckPoi(p, where));
    pois.push_back(std::move(p));
  }
  return pois;
}

Result<std::vector<Poi>> LoadPois(const std::filesystem::path& path, double default_radius_m) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read POI file " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string ext = path.extension().string();
  Result<std::vector<Poi>> r = (ext == ".geojson" || ext == ".json")
                                   ? ParsePoiGeoJson(ss.str(), default_radius_m)
                                   : ParsePoiCsv(ss.str(), default_radius_m);
  if (!r.ok()) return Status::InvalidArgument(path.string() + ": " + r.status().message());
  if (r->empty()) return Status::InvalidArgument(path.string() + ": no POI");
  std::set<std::string> ids;
  for (const auto& p : *r) {
    if (!ids.insert(p.id).second)
      return Status::InvalidArgument(path.string() + ": POI id '" + p.id + "' appears twice");
  }
  return r;
}

PoiIndex::~PoiIndex() = default;

Result<std::unique_ptr<PoiIndex>> PoiIndex::Build(std::vector<Poi> pois) {
  auto index = std::unique_ptr<PoiIndex>(new PoiIndex());
  std::set<int> levels;
  std::vector<std::pair<uint64_t, uint32_t>> entries;  // (cell, poi)
  std::vector<S2CellId> covering;
  std::vector<Candidate> caps;
  caps.reserve(pois.size());
  for (size_t i = 0; i < pois.size(); ++i) {
    const Poi& p = pois[i];
    S2Point centre = S2LatLng::FromDegrees(p.lat, p.lon).Normalized().ToPoint();
    S1Angle angle = S1Angle::Radians(p.radius_m / kEarthRadiusMeters);
    S1ChordAngle radius(angle);
    // The finest level whose cells are all at least as wide as the radius:
    // the cap (twice as wide) then touches at most a few cells per axis.
    const int level =
        std::min(kMaxCoveringLevel, S2::kMinWidth.GetLevelForMinValue(angle.radians()));
    S2RegionCoverer::Options options;
    options.set_min_level(level);
    options.set_max_level(level);
    options.set_max_cells(kMaxCoveringCells);
    S2RegionCoverer coverer(options);
    covering.clear();
    coverer.GetCovering(S2Cap(centre, radius), &covering);
    for (S2CellId id : covering) entries.emplace_back(id.id(), static_cast<uint32_t>(i));
    levels.insert(level);
    caps.push_back(
        {centre.x(), centre.y(), centre.z(), radius.length2(), static_cast<uint32_t>(i)});
  }
  std::sort(entries.begin(), entries.end());
  index->candidates_.reserve(entries.size());
  size_t distinct = 0;
  for (size_t k = 0; k < entries.size(); ++k)
    distinct += k == 0 || entries[k].first != entries[k - 1].first;
  const int bits = std::max(1, static_cast<int>(std::bit_width(distinct)) + 1);  // <= half full
  index->shift_ = 64 - bits;
  index->table_.assign(size_t{1} << bits, Slot{});
  index->cell_count_ = distinct;
  for (size_t k = 0; k < entries.size();) {
    size_t end = k;
    while (end < entries.size() && entries[end].first == entries[k].first) ++end;
    const uint64_t offset = index->candidates_.size();
    for (size_t j = k; j < end; ++j) index->candidates_.push_back(caps[entries[j].second]);
    size_t slot = index->Home(entries[k].first);
    while (index->table_[slot].cell != 0) slot = (slot + 1) & (index->table_.size() - 1);
    index->table_[slot] = {entries[k].first, offset << 32 | (end - k)};
    k = end;
  }
  index->levels_.assign(levels.begin(), levels.end());
  index->pois_ = std::move(pois);
  return index;
}

namespace {

S2Point UnitVector(double lat, double lon) {
  constexpr double kRad = std::numbers::pi / 180.0;
  double sin_lat, cos_lat, sin_lon, cos_lon;
  sincos(std::clamp(lat, -90.0, 90.0) * kRad, &sin_lat, &cos_lat);  // as S2LatLng::Normalized
  sincos(lon * kRad, &sin_lon, &cos_lon);
  return S2Point(cos_lat * cos_lon, cos_lat * sin_lon, sin_lat);
}

}  // namespace

uint64_t PoiIndex::Lookup(uint64_t cell) const {
  const size_t mask = table_.size() - 1;
  for (size_t slot = Home(cell);; slot = (slot + 1) & mask) {
    if (table_[slot].cell == cell) return table_[slot].value;
    if (table_[slot].cell == 0) return kNoCell;
  }
}

void PoiIndex::CheckCell(double x, double y, double z, uint64_t cell,
                         std::vector<uint32_t>* out) const {
  if (cell == kNoCell) return;
  const Candidate* c = candidates_.data() + (cell >> 32);
  const uint32_t n = static_cast<uint32_t>(cell);
  for (uint32_t k = 0; k < n; ++k) {
    double dx = x - c[k].x, dy = y - c[k].y, dz = z - c[k].z;
    if (dx * dx + dy * dy + dz * dz <= c[k].max_chord2) out->push_back(c[k].poi);
  }
}

void PoiIndex::Find(double lat, double lon, std::vector<uint32_t>* out) const {
  const S2Point point = UnitVector(lat, lon);
  const S2CellId leaf(point);
  for (int level : levels_) {
    CheckCell(point.x(), point.y(), point.z(), Lookup(leaf.parent(level).id()), out);
  }
}

void PoiIndex::FindAll(std::span<const LatLon> points, std::vector<uint32_t>* hits,
                       std::vector<uint32_t>* offsets) const {
  const size_t n = points.size(), levels = levels_.size(), probes = n * levels;
  offsets->resize(n + 1);
  // 1. Unit vectors and cell ids (computation only).
  std::vector<S2Point> where(n);
  std::vector<uint64_t> ids(probes);
  for (size_t i = 0; i < n; ++i) {
    where[i] = UnitVector(points[i].lat, points[i].lon);
    const S2CellId leaf(where[i]);
    for (size_t l = 0; l < levels; ++l) ids[i * levels + l] = leaf.parent(levels_[l]).id();
  }
  // 2. Hash lookups with the slots of kProbeAhead probes ahead prefetched,
  // each found cell's candidates prefetched, and the candidates of the point
  // kCheckBehind points back checked (their memory has arrived by then).
  constexpr size_t kProbeAhead = 16, kCheckBehind = 8;
  std::vector<uint64_t> found(probes);
  size_t checked = 0;
  auto check = [&](size_t i) {
    (*offsets)[i] = static_cast<uint32_t>(hits->size());
    for (size_t l = 0; l < levels; ++l)
      CheckCell(where[i].x(), where[i].y(), where[i].z(), found[i * levels + l], hits);
  };
  for (size_t k = 0; k < std::min(kProbeAhead, probes); ++k)
    __builtin_prefetch(&table_[Home(ids[k])]);
  for (size_t k = 0; k < probes; ++k) {
    if (k + kProbeAhead < probes) __builtin_prefetch(&table_[Home(ids[k + kProbeAhead])]);
    found[k] = Lookup(ids[k]);
    if (found[k] != kNoCell) {
      const char* first = reinterpret_cast<const char*>(candidates_.data() + (found[k] >> 32));
      __builtin_prefetch(first);
      __builtin_prefetch(first + 64);
    }
    if (k % levels == levels - 1 && k / levels >= kCheckBehind) check(checked++);
  }
  while (checked < n) check(checked++);
  (*offsets)[n] = static_cast<uint32_t>(hits->size());
}

}  // namespace inlet::process
