#include "process/flat_row.h"

#include <algorithm>

#include "schema/time_util.h"

namespace inlet::process {

const char* FlatTypeName(FlatType t) {
  switch (t) {
    case FlatType::kString:
      return "string";
    case FlatType::kBigint:
      return "bigint";
    case FlatType::kDouble:
      return "double";
    case FlatType::kBoolean:
      return "boolean";
    case FlatType::kTimestamp:
      return "timestamp";
    case FlatType::kDate:
      return "date";
  }
  return "string";
}

std::string_view NormalizeGender(std::string_view raw) {
  while (!raw.empty() && raw.front() == ' ') raw.remove_prefix(1);
  while (!raw.empty() && raw.back() == ' ') raw.remove_suffix(1);
  if (raw.size() > 6) return "unknown";
  char lower[8];
  for (size_t i = 0; i < raw.size(); ++i)
    lower[i] = static_cast<char>(tolower(static_cast<unsigned char>(raw[i])));
  std::string_view v(lower, raw.size());
  if (v == "f" || v == "female" || v == "woman" || v == "w" || v == "2") return "female";
  if (v == "m" || v == "male" || v == "man" || v == "1") return "male";
  return "unknown";
}

std::optional<int64_t> AgeAt(int32_t birth_days, int64_t event_micros) {
  schema::CivilTime b =
      schema::CivilFromMicros(static_cast<int64_t>(birth_days) * schema::kMicrosPerDay);
  schema::CivilTime e = schema::CivilFromMicros(event_micros);
  int64_t age = e.year - b.year;
  if (e.month < b.month || (e.month == b.month && e.day < b.day)) --age;
  if (age < 0) return std::nullopt;
  return age;
}

AgeBands::AgeBands(std::vector<int> lower_bounds) : bounds_(std::move(lower_bounds)) {
  labels_.push_back("unknown");
  int lo = 0;
  for (int b : bounds_) {
    labels_.push_back(std::to_string(lo) + "-" + std::to_string(b - 1));
    lo = b;
  }
  labels_.push_back(std::to_string(lo) + "+");
}

int AgeBands::Band(std::optional<int64_t> age) const {
  if (!age || *age < 0) return 0;
  int i =
      static_cast<int>(std::upper_bound(bounds_.begin(), bounds_.end(), *age) - bounds_.begin());
  return i + 1;
}

}  // namespace inlet::process
