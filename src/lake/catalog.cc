#include "lake/catalog.h"

#include <sqlite3.h>

#include <chrono>
#include <ctime>
#include <map>
#include <sstream>
#include <system_error>

namespace inlet::lake {
namespace {

constexpr int kBusyTimeoutMs = 10000;

constexpr const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('format_version', 1), ('change_counter', 0);
CREATE TABLE IF NOT EXISTS databases (
  name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tables (
  db TEXT NOT NULL, name TEXT NOT NULL, location TEXT NOT NULL, format TEXT NOT NULL,
  compression TEXT NOT NULL, description TEXT NOT NULL, source TEXT NOT NULL,
  deprecated INTEGER NOT NULL DEFAULT 0, schema_version INTEGER NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (db, name));
CREATE TABLE IF NOT EXISTS columns (
  db TEXT NOT NULL, tbl TEXT NOT NULL, partition_key INTEGER NOT NULL, position INTEGER NOT NULL,
  name TEXT NOT NULL, type TEXT NOT NULL, required INTEGER NOT NULL, description TEXT NOT NULL,
  deprecated INTEGER NOT NULL, PRIMARY KEY (db, tbl, partition_key, position));
CREATE TABLE IF NOT EXISTS schema_history (
  db TEXT NOT NULL, tbl TEXT NOT NULL, version INTEGER NOT NULL, changed_at TEXT NOT NULL,
  changed_by TEXT NOT NULL, change TEXT NOT NULL, columns TEXT NOT NULL, partition_keys TEXT NOT NULL,
  PRIMARY KEY (db, tbl, version));
CREATE TABLE IF NOT EXISTS partitions (
  db TEXT NOT NULL, tbl TEXT NOT NULL, path TEXT NOT NULL, vals TEXT NOT NULL, files INTEGER NOT NULL,
  bytes INTEGER NOT NULL, rows INTEGER NOT NULL, deprecated INTEGER NOT NULL, PRIMARY KEY (db, tbl, path));
)sql";

std::string NowUtc() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A prepared statement, finalized on destruction.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Status status() const {
    return rc_ == SQLITE_OK ? Status::Ok()
                            : Status::Internal(std::string("catalog: ") + sqlite3_errmsg(db_));
  }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  // SQLITE_ROW -> true; SQLITE_DONE -> false; errors in *st.
  bool Step(Status* st) {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) *st = Status::IoError(std::string("catalog: ") + sqlite3_errmsg(db_));
    return false;
  }
  Status Run() {
    Status st;
    while (Step(&st)) {
    }
    return st;
  }
  std::string Text(int col) {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(stmt_, col))
             : std::string();
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

// Column lists in the history: one line per column, tab-separated
// name, type, required, deprecated (names and types hold no tab or newline).
std::string EncodeColumns(const std::vector<ColumnInfo>& cols) {
  std::string out;
  for (const auto& c : cols) {
    out += c.name + "\t" + c.type + "\t" + (c.required ? "1" : "0") + "\t" +
           (c.deprecated ? "1" : "0") + "\n";
  }
  return out;
}

std::vector<ColumnInfo> DecodeColumns(const std::string& text) {
  std::vector<ColumnInfo> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t i = 0; i <= line.size(); ++i) {
      if (i == line.size() || line[i] == '\t') {
        parts.push_back(line.substr(start, i - start));
        start = i + 1;
      }
    }
    if (parts.size() < 4) continue;
    out.push_back({parts[0], parts[1], parts[2] == "1", "", parts[3] == "1"});
  }
  return out;
}

bool SameSchema(const std::vector<ColumnInfo>& a, const std::vector<ColumnInfo>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].type != b[i].type || a[i].required != b[i].required ||
        a[i].deprecated != b[i].deprecated) {
      return false;
    }
  }
  return true;
}

}  // namespace

const ColumnInfo* TableInfo::FindColumn(std::string_view column) const {
  for (const auto& c : columns) {
    if (c.name == column) return &c;
  }
  return nullptr;
}

bool IsValidIdentifier(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  if (!(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

Result<std::pair<std::string, std::string>> SplitQualifiedName(std::string_view qualified) {
  size_t dot = qualified.find('.');
  if (dot == std::string_view::npos) {
    return Status::InvalidArgument("table name '" + std::string(qualified) +
                                   "' must be qualified by its database, like raw.events");
  }
  std::string db(qualified.substr(0, dot)), name(qualified.substr(dot + 1));
  if (!IsValidIdentifier(db) || !IsValidIdentifier(name)) {
    return Status::InvalidArgument(
        "table name '" + std::string(qualified) +
        "': database and table are letters, digits and '_', like raw.events");
  }
  return std::make_pair(db, name);
}

std::string DescribeColumnChanges(const std::vector<ColumnInfo>& before,
                                  const std::vector<ColumnInfo>& after, const std::string& what) {
  std::map<std::string, const ColumnInfo*> old_by_name, new_by_name;
  for (const auto& c : before) old_by_name[c.name] = &c;
  for (const auto& c : after) new_by_name[c.name] = &c;
  std::string out;
  for (const auto& c : after) {
    auto it = old_by_name.find(c.name);
    if (it == old_by_name.end()) {
      out += "added " + what + " " + c.name + " " + c.type + "\n";
      continue;
    }
    const ColumnInfo& o = *it->second;
    if (o.type != c.type) out += what + " " + c.name + ": " + o.type + " -> " + c.type + "\n";
    if (o.required != c.required) {
      out +=
          what + " " + c.name + ": " + (c.required ? "now required" : "no longer required") + "\n";
    }
    if (o.deprecated != c.deprecated) {
      out += what + " " + c.name + ": " +
             (c.deprecated ? "deprecated (no longer in the files)" : "back in the files") + "\n";
    }
  }
  for (const auto& c : before) {
    if (!new_by_name.count(c.name)) out += "removed " + what + " " + c.name + " " + c.type + "\n";
  }
  if (!out.empty()) out.pop_back();
  return out;
}

Catalog::Catalog(sqlite3* db, std::filesystem::path file) : db_(db), file_(std::move(file)) {}

Catalog::~Catalog() { sqlite3_close(db_); }

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::filesystem::path& file) {
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  if (ec)
    return Status::IoError("cannot create the catalog folder " + file.parent_path().string() +
                           ": " + ec.message());
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(file.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status::IoError("cannot open the catalog " + file.string() + ": " + msg);
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  std::unique_ptr<Catalog> catalog(new Catalog(db, file));
  INLET_RETURN_IF_ERROR(catalog->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"));
  INLET_RETURN_IF_ERROR(catalog->Exec(kSchemaSql));
  return catalog;
}

Status Catalog::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::IoError("catalog " + file_.string() + ": " + msg);
  }
  return Status::Ok();
}

Status Catalog::BumpCounter() {
  return Exec("UPDATE meta SET value = value + 1 WHERE key = 'change_counter'");
}

Result<int64_t> Catalog::ChangeCounter() {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT value FROM meta WHERE key = 'change_counter'");
  INLET_RETURN_IF_ERROR(s.status());
  Status st;
  if (!s.Step(&st)) return st.ok() ? Status::Corruption("catalog: no change counter") : st;
  return s.Int(0);
}

Status Catalog::EnsureDatabase(const std::string& name, const std::string& description) {
  if (!IsValidIdentifier(name))
    return Status::InvalidArgument("invalid database name '" + name + "'");
  std::lock_guard lock(mu_);
  Stmt s(db_, "INSERT OR IGNORE INTO databases (name, description, created_at) VALUES (?, ?, ?)");
  INLET_RETURN_IF_ERROR(s.status());
  s.Bind(1, name).Bind(2, description).Bind(3, NowUtc());
  INLET_RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(db_) > 0) INLET_RETURN_IF_ERROR(BumpCounter());
  return Status::Ok();
}

Result<std::vector<DatabaseInfo>> Catalog::ListDatabases() {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT d.name, d.description, (SELECT count(*) FROM tables t WHERE t.db = d.name) "
         "FROM databases d ORDER BY d.name");
  INLET_RETURN_IF_ERROR(s.status());
  std::vector<DatabaseInfo> out;
  Status st;
  while (s.Step(&st)) out.push_back({s.Text(0), s.Text(1), static_cast<uint64_t>(s.Int(2))});
  if (!st.ok()) return st;
  return out;
}

Result<TableInfo> Catalog::GetTableLocked(const std::string& database, const std::string& name) {
  Stmt s(db_,
         "SELECT location, format, compression, description, source, deprecated, schema_version, "
         "updated_at "
         "FROM tables WHERE db = ? AND name = ?");
  INLET_RETURN_IF_ERROR(s.status());
  s.Bind(1, database).Bind(2, name);
  Status st;
  if (!s.Step(&st)) {
    if (!st.ok()) return st;
    return Status::NotFound("no table " + database + "." + name + " in the catalog");
  }
  TableInfo t;
  t.database = database;
  t.name = name;
  t.location = s.Text(0);
  t.format = s.Text(1);
  t.compression = s.Text(2);
  t.description = s.Text(3);
  t.source = s.Text(4);
  t.deprecated = s.Int(5) != 0;
  t.schema_version = s.Int(6);
  t.updated_at = s.Text(7);
  Stmt c(db_,
         "SELECT partition_key, name, type, required, description, deprecated FROM columns "
         "WHERE db = ? AND tbl = ? ORDER BY partition_key, position");
  INLET_RETURN_IF_ERROR(c.status());
  c.Bind(1, database).Bind(2, name);
  while (c.Step(&st)) {
    ColumnInfo col{c.Text(1), c.Text(2), c.Int(3) != 0, c.Text(4), c.Int(5) != 0};
    (c.Int(0) ? t.partition_keys : t.columns).push_back(std::move(col));
  }
  if (!st.ok()) return st;
  return t;
}

Result<TableInfo> Catalog::GetTable(const std::string& database, const std::string& name) {
  std::lock_guard lock(mu_);
  return GetTableLocked(database, name);
}

Result<std::vector<TableInfo>> Catalog::ListTables(const std::string& database) {
  std::vector<std::pair<std::string, std::string>> names;
  std::lock_guard lock(mu_);
  {
    Stmt s(db_, "SELECT db, name FROM tables WHERE ? = '' OR db = ? ORDER BY db, name");
    INLET_RETURN_IF_ERROR(s.status());
    s.Bind(1, database).Bind(2, database);
    Status st;
    while (s.Step(&st)) names.emplace_back(s.Text(0), s.Text(1));
    if (!st.ok()) return st;
  }
  std::vector<TableInfo> out;
  for (const auto& [db, name] : names) {
    auto t = GetTableLocked(db, name);
    if (!t.ok()) return t.status();
    out.push_back(std::move(t).value());
  }
  return out;
}

Result<bool> Catalog::PutTable(const TableInfo& table, const std::string& changed_by,
                               const std::string& change) {
  if (!IsValidIdentifier(table.database) || !IsValidIdentifier(table.name)) {
    return Status::InvalidArgument("invalid table name '" + table.QualifiedName() + "'");
  }
  INLET_RETURN_IF_ERROR(EnsureDatabase(table.database));
  std::lock_guard lock(mu_);
  INLET_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto rollback = [&](Status st) {
    (void)Exec("ROLLBACK");
    return st;
  };
  auto old = GetTableLocked(table.database, table.name);
  bool exists = old.ok();
  if (!exists && old.status().code() != StatusCode::kNotFound) return rollback(old.status());
  bool schema_changed = !exists || !SameSchema(old->columns, table.columns) ||
                        !SameSchema(old->partition_keys, table.partition_keys);
  bool meta_changed = !exists || old->location != table.location || old->format != table.format ||
                      old->compression != table.compression ||
                      old->description != table.description || old->deprecated != table.deprecated;
  bool docs_changed = false;
  if (exists && !schema_changed) {
    for (size_t i = 0; i < table.columns.size(); ++i) {
      docs_changed |= old->columns[i].description != table.columns[i].description;
    }
  }
  if (!schema_changed && !meta_changed && !docs_changed) {
    (void)Exec("ROLLBACK");
    return false;
  }
  int64_t version = exists ? old->schema_version + (schema_changed ? 1 : 0) : 1;
  std::string now = NowUtc();
  {
    Stmt s(db_,
           "INSERT INTO tables (db, name, location, format, compression, description, source, "
           "deprecated, "
           "schema_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
           "ON CONFLICT (db, name) DO UPDATE SET location = excluded.location, format = "
           "excluded.format, "
           "compression = excluded.compression, description = excluded.description, source = "
           "excluded.source, "
           "deprecated = excluded.deprecated, schema_version = excluded.schema_version, "
           "updated_at = excluded.updated_at");
    if (!s.status().ok()) return rollback(s.status());
    s.Bind(1, table.database).Bind(2, table.name).Bind(3, table.location).Bind(4, table.format);
    s.Bind(5, table.compression).Bind(6, table.description).Bind(7, table.source);
    s.Bind(8, int64_t{table.deprecated}).Bind(9, version).Bind(10, now).Bind(11, now);
    if (Status st = s.Run(); !st.ok()) return rollback(st);
  }
  {
    Stmt d(db_, "DELETE FROM columns WHERE db = ? AND tbl = ?");
    d.Bind(1, table.database).Bind(2, table.name);
    if (Status st = d.Run(); !st.ok()) return rollback(st);
  }
  for (int pk = 0; pk < 2; ++pk) {
    const auto& cols = pk ? table.partition_keys : table.columns;
    for (size_t i = 0; i < cols.size(); ++i) {
      Stmt s(db_, "INSERT INTO columns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
      s.Bind(1, table.database)
          .Bind(2, table.name)
          .Bind(3, int64_t{pk})
          .Bind(4, static_cast<int64_t>(i));
      s.Bind(5, cols[i].name).Bind(6, cols[i].type).Bind(7, int64_t{cols[i].required});
      s.Bind(8, cols[i].description).Bind(9, int64_t{cols[i].deprecated});
      if (Status st = s.Run(); !st.ok()) return rollback(st);
    }
  }
  if (schema_changed) {
    std::string summary = change;
    if (summary.empty()) {
      if (!exists) {
        summary = "created with " + std::to_string(table.columns.size()) + " columns";
        if (!table.partition_keys.empty()) {
          summary += " and " + std::to_string(table.partition_keys.size()) + " partition keys";
        }
      } else {
        summary = DescribeColumnChanges(old->columns, table.columns);
        std::string pk =
            DescribeColumnChanges(old->partition_keys, table.partition_keys, "partition key");
        if (!pk.empty()) summary += (summary.empty() ? "" : "\n") + pk;
      }
    }
    Stmt h(db_, "INSERT OR REPLACE INTO schema_history VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    h.Bind(1, table.database).Bind(2, table.name).Bind(3, version).Bind(4, now).Bind(5, changed_by);
    h.Bind(6, summary)
        .Bind(7, EncodeColumns(table.columns))
        .Bind(8, EncodeColumns(table.partition_keys));
    if (Status st = h.Run(); !st.ok()) return rollback(st);
  }
  if (Status st = BumpCounter(); !st.ok()) return rollback(st);
  INLET_RETURN_IF_ERROR(Exec("COMMIT"));
  return true;
}

Status Catalog::DropTable(const std::string& database, const std::string& name,
                          const std::string& changed_by) {
  std::lock_guard lock(mu_);
  auto old = GetTableLocked(database, name);
  if (!old.ok()) return old.status();
  INLET_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  const char* sqls[] = {"DELETE FROM tables WHERE db = ? AND name = ?",
                        "DELETE FROM columns WHERE db = ? AND tbl = ?",
                        "DELETE FROM partitions WHERE db = ? AND tbl = ?"};
  for (const char* sql : sqls) {
    Stmt s(db_, sql);
    s.Bind(1, database).Bind(2, name);
    if (Status st = s.Run(); !st.ok()) {
      (void)Exec("ROLLBACK");
      return st;
    }
  }
  Stmt h(db_, "INSERT OR REPLACE INTO schema_history VALUES (?, ?, ?, ?, ?, ?, '', '')");
  h.Bind(1, database)
      .Bind(2, name)
      .Bind(3, old->schema_version + 1)
      .Bind(4, NowUtc())
      .Bind(5, changed_by);
  h.Bind(6, std::string("table dropped"));
  if (Status st = h.Run(); !st.ok()) {
    (void)Exec("ROLLBACK");
    return st;
  }
  INLET_RETURN_IF_ERROR(BumpCounter());
  return Exec("COMMIT");
}

Result<std::vector<SchemaVersion>> Catalog::History(const std::string& database,
                                                    const std::string& name) {
  std::lock_guard lock(mu_);
  Stmt s(
      db_,
      "SELECT version, changed_at, changed_by, change, columns, partition_keys FROM schema_history "
      "WHERE db = ? AND tbl = ? ORDER BY version");
  INLET_RETURN_IF_ERROR(s.status());
  s.Bind(1, database).Bind(2, name);
  std::vector<SchemaVersion> out;
  Status st;
  while (s.Step(&st)) {
    out.push_back({s.Int(0), s.Text(1), s.Text(2), s.Text(3), DecodeColumns(s.Text(4)),
                   DecodeColumns(s.Text(5))});
  }
  if (!st.ok()) return st;
  if (out.empty())
    return Status::NotFound("no table " + database + "." + name + " in the catalog history");
  return out;
}

Status Catalog::PutPartitions(const std::string& database, const std::string& name,
                              const std::vector<PartitionInfo>& partitions) {
  std::lock_guard lock(mu_);
  INLET_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto fail = [&](Status st) {
    (void)Exec("ROLLBACK");
    return st;
  };
  {
    Stmt d(db_, "DELETE FROM partitions WHERE db = ? AND tbl = ?");
    d.Bind(1, database).Bind(2, name);
    if (Status st = d.Run(); !st.ok()) return fail(st);
  }
  for (const auto& p : partitions) {
    std::string vals;
    for (const auto& v : p.values) vals += (vals.empty() ? "" : "\t") + v;
    Stmt s(db_, "INSERT OR REPLACE INTO partitions VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    s.Bind(1, database)
        .Bind(2, name)
        .Bind(3, p.path)
        .Bind(4, vals)
        .Bind(5, static_cast<int64_t>(p.files));
    s.Bind(6, static_cast<int64_t>(p.bytes))
        .Bind(7, static_cast<int64_t>(p.rows))
        .Bind(8, int64_t{p.deprecated});
    if (Status st = s.Run(); !st.ok()) return fail(st);
  }
  if (Status st = BumpCounter(); !st.ok()) return fail(st);
  return Exec("COMMIT");
}

Result<std::vector<PartitionInfo>> Catalog::Partitions(const std::string& database,
                                                       const std::string& name) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "SELECT path, vals, files, bytes, rows, deprecated FROM partitions WHERE db = ? AND tbl = "
         "? ORDER BY path");
  INLET_RETURN_IF_ERROR(s.status());
  s.Bind(1, database).Bind(2, name);
  std::vector<PartitionInfo> out;
  Status st;
  while (s.Step(&st)) {
    PartitionInfo p;
    p.path = s.Text(0);
    std::string vals = s.Text(1);
    size_t start = 0;
    for (size_t i = 0; i <= vals.size() && !vals.empty(); ++i) {
      if (i == vals.size() || vals[i] == '\t') {
        p.values.push_back(vals.substr(start, i - start));
        start = i + 1;
      }
    }
    p.files = s.Int(2);
    p.bytes = s.Int(3);
    p.rows = s.Int(4);
    p.deprecated = s.Int(5) != 0;
    out.push_back(std::move(p));
  }
  if (!st.ok()) return st;
  return out;
}

}  // namespace inlet::lake
