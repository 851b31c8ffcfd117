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

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
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
  // Find for each point, in order: point i's POIs are
  // hits[offsets[i], offsets[i + 1]). The same answers as Find, faster for
  // many points: a lookup is a chain of cache misses with many POIs (the
  // cell's hash slot, then its candidates), so the memory of the points
  // ahead is fetched while the current one is checked.
  struct LatLon {
    double lat, lon;
  };
  void FindAll(std::span<const LatLon> points, std::vector<uint32_t>* hits,
               std::vector<uint32_t>* offsets) const;
  size_t cell_count() const { return cell_count_; }
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
  static constexpr uint64_t kNoCell = ~uint64_t{0};
  // Appends the candidates of `cell` (a table_ value, or kNoCell) that hold
  // the unit vector (x, y, z).
  void CheckCell(double x, double y, double z, uint64_t cell, std::vector<uint32_t>* out) const;

  std::vector<Poi> pois_;
  std::vector<int> levels_;  // cell levels used by the coverings
  // Cell id -> (offset << 32 | count) into candidates_: an immutable
  // open-addressing table (linear probing, at most half full), so that the
  // slot a lookup reads first is known, and prefetched, ahead of it.
  struct Slot {
    uint64_t cell = 0;  // 0: empty (no valid S2 cell id is 0)
    uint64_t value = 0;
  };
  size_t Home(uint64_t cell) const { return (cell * 0x9E3779B97F4A7C15ull) >> shift_; }
  uint64_t Lookup(uint64_t cell) const;  // kNoCell when absent
  std::vector<Slot> table_;
  int shift_ = 63;
  size_t cell_count_ = 0;
  std::vector<Candidate> candidates_;
};

}  // namespace inlet::process
