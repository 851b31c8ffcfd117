#include "lake/versions.h"

#include <sqlite3.h>

#include <array>
#include <chrono>
#include <ctime>

namespace inlet::lake {
namespace {

constexpr int kBusyTimeoutMs = 10'000;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS table_versions (
  db TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL, location TEXT NOT NULL,
  created_at TEXT NOT NULL, created_by TEXT NOT NULL, note TEXT NOT NULL,
  PRIMARY KEY (db, name, version));
CREATE TABLE IF NOT EXISTS current_versions (
  db TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL, PRIMARY KEY (db, name));
)sql";

std::string NowIso() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// One prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      status_ = Status::Internal(std::string("catalog versions: ") + sqlite3_errmsg(db));
    }
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(const std::string& text) {
    if (stmt_) sqlite3_bind_text(stmt_, ++bound_, text.data(), int(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // True while a row is available; errors end up in status().
  bool Step() {
    if (!stmt_) return false;
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE)
      status_ = Status::Internal(std::string("catalog versions: ") + sqlite3_errmsg(db_));
    return false;
  }
  std::string Text(int col) const {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  const Status& status() const { return status_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int bound_ = 0;
  Status status_;
};

Status Run(Stmt& s) {
  s.Step();
  return s.status();
}

}  // namespace

bool IsValidVersionName(std::string_view version) {
  if (version.empty() || version.size() > 64 || version == "." || version == "..") return false;
  for (char c : version) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string VersionLocation(std::string_view base_location, std::string_view version) {
  std::string loc(base_location);
  while (!loc.empty() && loc.back() == '/') loc.pop_back();
  return loc + "_versions/version=" + std::string(version) + "/";
}

Result<std::unique_ptr<TableVersions>> TableVersions::Open(Catalog* catalog) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(catalog->file().c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status::IoError("catalog versions: cannot open " + catalog->file().string() + ": " +
                           msg);
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  char* err = nullptr;
  if (sqlite3_exec(db, kSchema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    sqlite3_close(db);
    return Status::Internal("catalog versions: " + msg);
  }
  return std::unique_ptr<TableVersions>(new TableVersions(db, catalog));
}

TableVersions::~TableVersions() { sqlite3_close(db_); }

Status TableVersions::Record(const VersionInfo& info) {
  if (!IsValidVersionName(info.version))
    return Status::InvalidArgument("invalid version name '" + info.version +
                                   "' (1-64 of letters, digits, '_', '-', '.')");
  {
    Stmt any(db_, "SELECT count(*) FROM table_versions WHERE db = ? AND name = ?");
    any.Bind(info.database).Bind(info.table);
    bool first = any.Step() && any.Text(0) == "0";
    INLET_RETURN_IF_ERROR(any.status());
    if (first && info.version != kLiveVersion) {
      auto table = catalog_->GetTable(info.database, info.table);
      if (table.ok()) {
        Stmt live(db_,
                  "INSERT OR IGNORE INTO table_versions VALUES (?, ?, ?, ?, ?, 'catalog', "
                  "'the location before re-processing')");
        live.Bind(info.database)
            .Bind(info.table)
            .Bind(kLiveVersion)
            .Bind(table->location)
            .Bind(NowIso());
        INLET_RETURN_IF_ERROR(Run(live));
        Stmt cur(db_, "INSERT OR IGNORE INTO current_versions VALUES (?, ?, ?)");
        cur.Bind(info.database).Bind(info.table).Bind(kLiveVersion);
        INLET_RETURN_IF_ERROR(Run(cur));
      }
    }
  }
  Stmt put(db_, "INSERT OR REPLACE INTO table_versions VALUES (?, ?, ?, ?, ?, ?, ?)");
  put.Bind(info.database)
      .Bind(info.table)
      .Bind(info.version)
      .Bind(info.location)
      .Bind(info.created_at.empty() ? NowIso() : info.created_at)
      .Bind(info.created_by)
      .Bind(info.note);
  INLET_RETURN_IF_ERROR(Run(put));
  if (info.version != kLiveVersion) return Status::Ok();
  Stmt cur(db_, "INSERT OR IGNORE INTO current_versions VALUES (?, ?, ?)");
  cur.Bind(info.database).Bind(info.table).Bind(kLiveVersion);
  return Run(cur);
}

Result<std::vector<VersionInfo>> TableVersions::List(const std::string& database,
                                                     const std::string& table) {
  auto current = Current(database, table);
  if (!current.ok()) return current.status();
  Stmt s(db_,
         "SELECT version, location, created_at, created_by, note FROM table_versions "
         "WHERE db = ? AND name = ? ORDER BY created_at, rowid");
  s.Bind(database).Bind(table);
  std::vector<VersionInfo> out;
  while (s.Step()) {
    VersionInfo v;
    v.database = database;
    v.table = table;
    v.version = s.Text(0);
    v.location = s.Text(1);
    v.created_at = s.Text(2);
    v.created_by = s.Text(3);
    v.note = s.Text(4);
    v.current = v.version == current.value();
    out.push_back(std::move(v));
  }
  INLET_RETURN_IF_ERROR(s.status());
  return out;
}

Result<std::string> TableVersions::Current(const std::string& database, const std::string& table) {
  Stmt s(db_, "SELECT version FROM current_versions WHERE db = ? AND name = ?");
  s.Bind(database).Bind(table);
  std::string v = s.Step() ? s.Text(0) : "";
  INLET_RETURN_IF_ERROR(s.status());
  return v;
}

Status TableVersions::Use(const std::string& database, const std::string& table,
                          const std::string& version) {
  Stmt s(db_, "SELECT location FROM table_versions WHERE db = ? AND name = ? AND version = ?");
  s.Bind(database).Bind(table).Bind(version);
  if (!s.Step()) {
    INLET_RETURN_IF_ERROR(s.status());
    return Status::NotFound("table " + database + "." + table + " has no version '" + version +
                            "' (see `inlet versions list " + database + "." + table + "`)");
  }
  std::string location = s.Text(0);
  Stmt cur(db_, "INSERT OR REPLACE INTO current_versions VALUES (?, ?, ?)");
  cur.Bind(database).Bind(table).Bind(version);
  INLET_RETURN_IF_ERROR(Run(cur));
  return SetLocation(database, table, location);
}

Status TableVersions::SetLocation(const std::string& database, const std::string& table,
                                  const std::string& location) {
  auto info = catalog_->GetTable(database, table);
  if (!info.ok()) {
    // A table only the crawler would register (curated.events): the version is
    // recorded; the catalog has no location to switch yet.
    if (info.status().code() == StatusCode::kNotFound) return Status::Ok();
    return info.status();
  }
  if (info->location == location) return Status::Ok();
  TableInfo updated = std::move(info).value();
  updated.location = location;
  auto put = catalog_->PutTable(updated, "versions", "location -> " + location);
  return put.ok() ? Status::Ok() : put.status();
}

Status TableVersions::ApplyCurrent() {
  Stmt s(db_,
         "SELECT c.db, c.name, v.location FROM current_versions c JOIN table_versions v "
         "ON v.db = c.db AND v.name = c.name AND v.version = c.version");
  std::vector<std::array<std::string, 3>> rows;
  while (s.Step()) rows.push_back({s.Text(0), s.Text(1), s.Text(2)});
  INLET_RETURN_IF_ERROR(s.status());
  for (const auto& r : rows) INLET_RETURN_IF_ERROR(SetLocation(r[0], r[1], r[2]));
  return Status::Ok();
}

}  // namespace inlet::lake
