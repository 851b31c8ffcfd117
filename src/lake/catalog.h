// Catalog: the lake's table directory (the Glue Data Catalog of inlet), kept
// in one SQLite file next to the lake. Databases, tables (location, format,
// compression, columns with Glue type strings, partition keys), the
// partitions and files a crawler saw, and a history of schema versions (who
// changed what, when). Every write bumps a change counter that readers (the
// query engine) poll. Thread-safe (one mutex around the SQLite handle);
// several processes may share the file (SQLite locking, busy timeout).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

struct sqlite3;

namespace inlet::lake {

struct ColumnInfo {
  std::string name;
  std::string type;  // Glue / Hive spelling: "bigint", "struct<os:string>"
  bool required = false;
  std::string description;
  bool deprecated = false;  // gone from the files, kept by deprecate_in_catalog

  bool operator==(const ColumnInfo&) const = default;
};

struct TableInfo {
  std::string database;
  std::string name;
  std::string location;  // lake-relative prefix with a trailing '/': "raw/events/"
  std::string format = "parquet";
  std::string compression = "zstd";
  std::string description;
  std::string source = "config";  // "config" or "crawler:<name>"
  std::vector<ColumnInfo> columns;
  std::vector<ColumnInfo> partition_keys;  // in path order
  bool deprecated = false;
  int64_t schema_version = 0;  // set by the catalog
  std::string updated_at;      // set by the catalog (UTC, ISO 8601)

  std::string QualifiedName() const { return database + "." + name; }
  const ColumnInfo* FindColumn(std::string_view column) const;
};

struct SchemaVersion {
  int64_t version = 0;
  std::string changed_at;  // UTC, ISO 8601
  std::string changed_by;  // "config", "crawler:<name>", "cli:<user>"
  std::string change;      // what changed, one line per change
  std::vector<ColumnInfo> columns;
  std::vector<ColumnInfo> partition_keys;
};

struct PartitionInfo {
  std::string path;  // lake-relative folder: "raw/events/year=2024/month=05/day=01/"
  std::vector<std::string> values;
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t rows = 0;
  bool deprecated = false;
};

struct DatabaseInfo {
  std::string name;
  std::string description;
  uint64_t tables = 0;
};

// Splits "db.table"; errors name the offending text.
Result<std::pair<std::string, std::string>> SplitQualifiedName(std::string_view qualified);
// True for names the catalog accepts for databases, tables and columns
// ([A-Za-z_][A-Za-z0-9_]*; columns may also contain '-' and '.').
bool IsValidIdentifier(std::string_view name);

class Catalog {
 public:
  // Opens (creating when missing) the catalog file and its folder.
  static Result<std::unique_ptr<Catalog>> Open(const std::filesystem::path& file);
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  Status EnsureDatabase(const std::string& name, const std::string& description = "");
  Result<std::vector<DatabaseInfo>> ListDatabases();
  // Tables of `database`, or of every database when it is "".
  Result<std::vector<TableInfo>> ListTables(const std::string& database = "");
  // NotFound when the table is not registered.
  Result<TableInfo> GetTable(const std::string& database, const std::string& name);

  // Creates the table or replaces its definition. When its columns or
  // partition keys differ from the stored ones, a new schema version is
  // recorded with `changed_by` and `change` (a summary is computed when
  // empty). Returns true when anything was written.
  Result<bool> PutTable(const TableInfo& table, const std::string& changed_by,
                        const std::string& change = "");
  Status DropTable(const std::string& database, const std::string& name,
                   const std::string& changed_by);
  Result<std::vector<SchemaVersion>> History(const std::string& database, const std::string& name);

  // Replaces the partitions known for a table.
  Status PutPartitions(const std::string& database, const std::string& name,
                       const std::vector<PartitionInfo>& partitions);
  Result<std::vector<PartitionInfo>> Partitions(const std::string& database,
                                                const std::string& name);

  // Increases with every write (from any process sharing the file).
  Result<int64_t> ChangeCounter();

  const std::filesystem::path& file() const { return file_; }

 private:
  Catalog(sqlite3* db, std::filesystem::path file);
  Status Exec(const std::string& sql);
  Status BumpCounter();
  Result<TableInfo> GetTableLocked(const std::string& database, const std::string& name);

  std::mutex mu_;
  sqlite3* db_;
  std::filesystem::path file_;
};

// A readable list of the differences between two column lists
// ("added column x bigint", "column y: int -> bigint", ...), "" when equal.
std::string DescribeColumnChanges(const std::vector<ColumnInfo>& before,
                                  const std::vector<ColumnInfo>& after,
                                  const std::string& what = "column");

}  // namespace inlet::lake
