#include "process/process_config.h"

#include <set>

namespace inlet::process {
namespace {

constexpr const char* kCategoryNames[kErrorCategoryCount] = {
    "malformed_json", "missing_field", "type_mismatch", "out_of_range",
    "invalid_value",  "too_large",     "late_event"};

struct OpName {
  MaskOp op;
  const char* name;
};
constexpr OpName kOpNames[] = {
    {MaskOp::kPseudonym, "pseudonym"},
    {MaskOp::kHash, "hash"},
    {MaskOp::kRedact, "redact"},
    {MaskOp::kReplace, "replace"},
    {MaskOp::kPartial, "partial"},
    {MaskOp::kGeneralizeAge, "generalize_age"},
    {MaskOp::kTruncateTime, "truncate_time"},
    {MaskOp::kTruncateIp, "truncate_ip"},
    {MaskOp::kCoarsenLocation, "coarsen_location"},
    {MaskOp::kDrop, "drop"},
    {MaskOp::kDetectPii, "detect_pii"},
};

bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 100) return false;
  for (char c : s) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

bool ValidLocation(std::string_view s) {
  return !s.empty() && s.back() == '/' && s.front() != '/' &&
         s.find("..") == std::string_view::npos && s.find("//") == std::string_view::npos;
}

}  // namespace

const char* ErrorCategoryName(ErrorCategory c) { return kCategoryNames[static_cast<int>(c)]; }

Result<ErrorCategory> ParseErrorCategory(std::string_view name) {
  for (int i = 0; i < kErrorCategoryCount; ++i) {
    if (name == kCategoryNames[i]) return static_cast<ErrorCategory>(i);
  }
  return Status::InvalidArgument("unknown error category '" + std::string(name) +
                                 "' (expected malformed_json, missing_field, type_mismatch, "
                                 "out_of_range, invalid_value, too_large or late_event)");
}

Result<MaskOp> ParseMaskOp(std::string_view name) {
  for (const auto& o : kOpNames) {
    if (name == o.name) return o.op;
  }
  std::string all;
  for (const auto& o : kOpNames) all += (all.empty() ? "" : ", ") + std::string(o.name);
  return Status::InvalidArgument("unknown masking operator '" + std::string(name) + "' (expected " +
                                 all + ")");
}

const char* MaskOpName(MaskOp op) {
  for (const auto& o : kOpNames) {
    if (o.op == op) return o.name;
  }
  return "?";
}

Status ValidateProcessorConfig(const ProcessorConfig& c) {
  auto fail = [&](const std::string& m) {
    return Status::InvalidArgument("processor '" + c.name + "': " + m);
  };
  if (!ValidName(c.name)) return fail("name must be 1-100 of [A-Za-z0-9_.-]");
  if (c.mapping.empty()) return fail("mapping: at least one column is needed");
  std::set<std::string> columns;
  for (const auto& m : c.mapping) {
    if (!ValidName(m.column))
      return fail("mapping: column '" + m.column + "' must be [A-Za-z0-9_.-]");
    if (m.column.front() == '_')
      return fail("mapping: column '" + m.column + "': names starting with '_' are reserved");
    if (!columns.insert(m.column).second)
      return fail("mapping: column '" + m.column + "' appears twice");
    if (m.path.empty() && !(m.derive == Derive::kAge && !m.birth_date.empty())) {
      return fail("mapping: column '" + m.column + "' needs a path");
    }
  }
  std::set<std::string> dropped;
  for (const auto& r : c.masking.rules) {
    if (!columns.count(r.column))
      return fail("masking: column '" + r.column + "' is not a mapped column");
    if (r.op == MaskOp::kCoarsenLocation) {
      if (!columns.count(r.lon_column))
        return fail("masking: coarsen_location of '" + r.column +
                    "' needs lon_column, a mapped column");
      if (!(r.grid_m >= 1 && r.grid_m <= 1'000'000))
        return fail("masking: grid_m must be between 1 and 1000000");
    }
    if (r.op == MaskOp::kTruncateTime && r.unit != "second" && r.unit != "minute" &&
        r.unit != "hour" && r.unit != "day") {
      return fail("masking: unit of truncate_time must be second, minute, hour or day");
    }
    if (r.op == MaskOp::kTruncateIp && (r.ipv4_prefix > 32 || r.ipv6_prefix > 128)) {
      return fail("masking: ipv4_prefix must be 0-32 and ipv6_prefix 0-128");
    }
    if (r.op == MaskOp::kPseudonym && c.masking.key_file.empty() && c.masking.key_env.empty()) {
      return fail("masking: pseudonym needs key_file or key_env");
    }
    if (r.op == MaskOp::kDrop) dropped.insert(r.column);
  }
  if (!ValidLocation(c.events_location))
    return fail("events_location must be a relative prefix ending in '/'");
  if (!ValidLocation(c.errors_location))
    return fail("errors_location must be a relative prefix ending in '/'");
  for (const auto& [cat, action] : c.error_actions) {
    if (action.notify && c.errors_topic.empty()) {
      return fail(std::string("errors: ") + ErrorCategoryName(cat) +
                  " notifies but no errors topic is set");
    }
  }
  const auto& a = c.aggregate;
  if (a.enabled) {
    if (a.poi_file.empty()) return fail("aggregate: poi_file is required");
    for (const auto* col : {&a.time_column, &a.lat_column, &a.lon_column, &a.age_column,
                            &a.gender_column, &a.person_column}) {
      if (!columns.count(*col))
        return fail("aggregate: column '" + *col + "' is not a mapped column");
    }
    if (dropped.count(a.person_column))
      return fail("aggregate: person column '" + a.person_column + "' is dropped");
    bool masked = false;
    for (const auto& r : c.masking.rules) {
      if (r.column == a.person_column && (r.op == MaskOp::kPseudonym || r.op == MaskOp::kHash))
        masked = true;
    }
    if (!masked)
      return fail("aggregate: person column '" + a.person_column +
                  "' must be masked with pseudonym or hash");
    if (a.window.count() < 1000 || a.window > std::chrono::hours(24) ||
        (86'400'000 % a.window.count()) != 0) {
      return fail("aggregate: window must be between 1s and 24h and divide a day");
    }
    if (a.age_bands.empty()) return fail("aggregate: age_bands needs at least one lower bound");
    for (size_t i = 0; i < a.age_bands.size(); ++i) {
      if (a.age_bands[i] < 1 || a.age_bands[i] > 150 ||
          (i > 0 && a.age_bands[i] <= a.age_bands[i - 1])) {
        return fail("aggregate: age_bands must be increasing whole numbers between 1 and 150");
      }
    }
    if (a.max_open_windows < 1) return fail("aggregate: max_open_windows must be at least 1");
    if (!(a.default_radius_m > 0)) return fail("aggregate: default_radius_m must be positive");
    if (!ValidLocation(a.location))
      return fail("aggregate: location must be a relative prefix ending in '/'");
  }
  const auto& s = c.autoscale;
  if (s.min_workers < 1 || s.max_workers < s.min_workers || s.max_workers > 256) {
    return fail("workers: need 1 <= min_workers <= max_workers <= 256");
  }
  if (s.target_backlog_per_worker < 1)
    return fail("workers: target_backlog_per_worker must be at least 1");
  return Status::Ok();
}

}  // namespace inlet::process
