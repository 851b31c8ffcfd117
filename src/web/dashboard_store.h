// DashboardStore: named dashboards (a title and a set of visuals, each a SQL
// dataset with a chart type and filters) kept as one JSON file per dashboard,
// <dir>/<name>.json, written atomically (temp, fsync, rename, fsync dir).
// The store checks shape and limits, not SQL: visuals run through the query
// API with the caller's key when opened. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace inlet::web {

struct DashboardLimits {
  size_t max_bytes = 1 << 20;    // one dashboard's JSON document
  size_t max_dashboards = 1000;  // files in the folder
  size_t max_visuals = 50;       // visuals in one dashboard
};

struct DashboardSummary {
  std::string name;
  std::string title;       // "" when the document has none
  size_t visuals = 0;      // number of entries of "visuals"
  int64_t updated_ms = 0;  // last save, Unix milliseconds
  uint64_t bytes = 0;
};

class DashboardStore {
 public:
  // The folder is created on the first save. REQUIRES: `dir` is not shared
  // with other files named *.json.
  explicit DashboardStore(std::filesystem::path dir, DashboardLimits limits = {});

  // A name is 1-64 characters of [A-Za-z0-9_.-], starting with a letter or a
  // digit (it is a URL segment and a file name).
  static bool ValidName(std::string_view name);

  // Every stored dashboard, sorted by name.
  Result<std::vector<DashboardSummary>> List() const;
  // The stored JSON document; NotFound when there is none of that name.
  Result<std::string> Get(std::string_view name) const;
  // Creates or replaces. InvalidArgument for a bad name or document (not a
  // JSON object; "name" other than `name`; "title" not a string; "visuals"
  // not an array of objects each with a non-empty "sql" string and a string
  // "chart"); ResourceExhausted beyond the limits. *created tells whether it
  // is new. When `must_be_new`, an existing dashboard gives AlreadyExists.
  Status Put(std::string_view name, std::string_view json, bool must_be_new, bool* created);
  // NotFound when there is none of that name.
  Status Delete(std::string_view name);

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path PathOf(std::string_view name) const;
  Status Validate(std::string_view name, std::string_view json) const;

  std::filesystem::path dir_;
  DashboardLimits limits_;
  mutable std::mutex mu_;  // serialises writers (count limit, create-only)
};

}  // namespace inlet::web
