// TableVersions: the versions of curated tables written by re-processing
// (`inlet reprocess --version vN`) and which one is current, kept in the
// catalog's SQLite file (tables `table_versions` and `current_versions`,
// through a connection of its own). Making a version current points the
// catalog table's location at the version's folder, so every query by
// catalog name reads it. Thread-compatible (one connection, no locking of its
// own; SQLite locks the file between processes); `catalog` must outlive it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "lake/catalog.h"

struct sqlite3;

namespace inlet::lake {

// The version name of the location a table had before any re-processing.
inline constexpr char kLiveVersion[] = "live";

struct VersionInfo {
  std::string database;
  std::string table;
  std::string version;     // [A-Za-z0-9_.-]+, "live" for the original location
  std::string location;    // lake-relative prefix: "curated/poi_presence_versions/version=v2/"
  std::string created_at;  // UTC, ISO 8601 (set by Record)
  std::string created_by;  // "reprocess:<processor>", ...
  std::string note;        // what produced it: time range, config file, row counts
  bool current = false;    // filled by List
};

// True for names accepted as versions: 1-64 of [A-Za-z0-9_.-], not "." or "..".
bool IsValidVersionName(std::string_view version);

// The folder of `version` of a table at `base_location`:
// "curated/poi_presence/" -> "curated/poi_presence_versions/version=v2/".
// Beside the live folder, not inside it: a reader of the live location
// (read_parquet('<location>**/*.parquet', hive_partitioning)) would otherwise
// meet files with an extra `version=` level and fail ("Hive partition
// mismatch"). All versions of a table form one Hive-partitioned folder.
std::string VersionLocation(std::string_view base_location, std::string_view version);

class TableVersions {
 public:
  static Result<std::unique_ptr<TableVersions>> Open(Catalog* catalog);
  ~TableVersions();
  TableVersions(const TableVersions&) = delete;
  TableVersions& operator=(const TableVersions&) = delete;

  // Records (or replaces) a version. The first time a table gets a version,
  // its current catalog location is recorded as version "live" and made
  // current, so that switching back is possible.
  Status Record(const VersionInfo& info);

  // The versions of `database.table`, oldest first, `current` set on one.
  Result<std::vector<VersionInfo>> List(const std::string& database, const std::string& table);

  // Makes `version` current: records it and sets the catalog table's
  // location to the version's location (when the table is in the catalog).
  // NotFound when the version was never recorded.
  Status Use(const std::string& database, const std::string& table, const std::string& version);

  // The current version's name ("" when the table has none).
  Result<std::string> Current(const std::string& database, const std::string& table);

  // Points every table with a current version at that version's location.
  // Call after registering the configured tables (which resets locations).
  Status ApplyCurrent();

 private:
  TableVersions(sqlite3* db, Catalog* catalog) : db_(db), catalog_(catalog) {}
  Status SetLocation(const std::string& database, const std::string& table,
                     const std::string& location);

  sqlite3* db_;
  Catalog* catalog_;
};

}  // namespace inlet::lake
