// Points of interest and their S2 index. LoadPois reads a CSV (header with
// id, name, lat, lon, radius_m, category) or a GeoJSON FeatureCollection of
// Points; PoiIndex covers each POI's spherical cap (centre, radius) with S2
// cells of one level chosen from its radius (cells at least as wide as the
// radius, so a cap touches a handful of them) and answers "which POIs hold
// this point" exactly (great-circle distance at most the radius, on a sphere
// of kEarthRadiusMeters): one hash lookup per distinct level (one when the
// radii are alike), then a chord-length check of each candidate.
// Immutable after Build; Find is thread-safe.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace inlet::process {

struct Poi {
  std::string id;
  std::string name;
  double lat = 0;
  double lon = 0;
  double radius_m = 0;
  std::string category;
};

// Limits of a POI file.
inline constexpr size_t kMaxPois = 2'000'000;
inline constexpr double kMaxPoiRadiusMeters = 100'000;

// `default_radius_m` applies to rows without a radius. Errors name the line or feature.
Result<std::vector<Poi>> LoadPois(const std::filesystem::path& path, double default_radius_m);
Result<std::vector<Poi>> ParsePoiCsv(std::string_view text, double default_radius_m);
Result<std::vector<Poi>> ParsePoiGeoJson(std::string_view text, double default_radius_m);

// Great-circle distance in metres (haversine), the oracle's formula.
double HaversineMeters(double lat1, double lon1, double lat2, double lon2);

class PoiIndex {
 public:
  static Result<std::unique_ptr<PoiIndex>> Build(std::vector<Poi> pois);
  ~PoiIndex();

  const std::vector<Poi>& pois() const { return pois_; }
  // Appends to *out the indexes of the POIs whose circle holds (lat, lon).
  void Find(double lat, double lon, std::vector<uint32_t>* out) const;
  size_t cell_count() const { return cells_.size(); }
  size_t level_count() const { return levels_.size(); }

 private:
  PoiIndex() = default;
  // A POI as a candidate of a cell: its cap is copied into each cell that it
  // touches, so that a lookup reads one cell's candidates in sequence instead
  // of the caps of scattered POIs (a cache miss each with 100k POIs).
  struct Candidate {
    double x, y, z;     // unit vector of the centre
    double max_chord2;  // squared chord length of the radius
    uint32_t poi;
  };
  std::vector<Poi> pois_;
  std::vector<int> levels_;  // cell levels used by the coverings
  // Cell id -> (offset << 32 | count) into candidates_.
  absl::flat_hash_map<uint64_t, uint64_t> cells_;
  std::vector<Candidate> candidates_;
};

}  // namespace inlet::process
