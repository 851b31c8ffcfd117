// FlatRow: one event after the flatten stage, as typed values of the curated
// columns, plus the vocabulary helpers of the cleaning stage (gender, age).
// Plain values; thread-compatible.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace inlet::process {

// Types of curated columns (Parquet: VARCHAR, BIGINT, DOUBLE, BOOLEAN, TIMESTAMP, DATE).
enum class FlatType { kString, kBigint, kDouble, kBoolean, kTimestamp, kDate };
const char* FlatTypeName(FlatType t);

struct Value {
  bool valid = false;
  int64_t i = 0;  // kBigint, kBoolean (0/1), kTimestamp (micros UTC), kDate (days)
  double d = 0;   // kDouble
  std::string s;  // kString

  void SetNull() { valid = false; }
  void SetInt(int64_t v) { valid = true, i = v; }
  void SetDouble(double v) { valid = true, d = v; }
  void SetString(std::string_view v) {
    valid = true;
    // Rows are reused, so s has room for most values: a resize within the
    // capacity and a copy cost about half of assign()'s general replace.
    // `v` never points into s (callers pass other storage).
    s.resize(v.size());
    if (!v.empty()) std::memcpy(s.data(), v.data(), v.size());
  }
};

struct FlatColumn {
  std::string name;
  FlatType type = FlatType::kString;
};

struct FlatRow {
  std::vector<Value> values;  // one per curated column, in mapping order
  uint64_t seq = 0;
  int64_t arrival_us = 0;
};

// The gender vocabulary: "female", "male" or "unknown". Case-insensitive,
// surrounding spaces ignored: f, female, woman, w, 2 -> female;
// m, male, man, 1 -> male; anything else (0, "x", "", missing) -> unknown.
std::string_view NormalizeGender(std::string_view raw);

// Whole years from a birth date to an event time (both UTC); nullopt when the
// birth date is after the event.
std::optional<int64_t> AgeAt(int32_t birth_days, int64_t event_micros);

// Age band labels from increasing lower bounds, e.g. {18,25,35} gives
// "0-17", "18-24", "25-34", "35+". Ages below 0 give "unknown".
class AgeBands {
 public:
  explicit AgeBands(std::vector<int> lower_bounds);
  // Index into labels(): 0 is "unknown" (no age), then the bands in order.
  int Band(std::optional<int64_t> age) const;
  const std::vector<std::string>& labels() const { return labels_; }

 private:
  std::vector<int> bounds_;
  std::vector<std::string> labels_;
};

}  // namespace inlet::process
