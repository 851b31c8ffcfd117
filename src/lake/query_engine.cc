#include "lake/query_engine.h"

#include <duckdb.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "lake/duckdb_types.h"

namespace inlet::lake {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// How often a table without files is checked again for its first file.
constexpr auto kEmptyTableRecheck = std::chrono::seconds(1);

const std::set<std::string>& ReadOnlyKeywords() {
  static const std::set<std::string> k = {"SELECT",   "WITH", "FROM",     "VALUES",
                                          "DESCRIBE", "SHOW", "SUMMARIZE"};
  return k;
}

// The DuckDB SQL spelling of a logical type.
std::string DuckTypeName(duckdb_logical_type type) {
  auto child = [](duckdb_logical_type c) {
    std::string out = DuckTypeName(c);
    duckdb_destroy_logical_type(&c);
    return out;
  };
  switch (duckdb_get_type_id(type)) {
    case DUCKDB_TYPE_BOOLEAN:
      return "BOOLEAN";
    case DUCKDB_TYPE_TINYINT:
      return "TINYINT";
    case DUCKDB_TYPE_SMALLINT:
      return "SMALLINT";
    case DUCKDB_TYPE_INTEGER:
      return "INTEGER";
    case DUCKDB_TYPE_BIGINT:
      return "BIGINT";
    case DUCKDB_TYPE_UTINYINT:
      return "UTINYINT";
    case DUCKDB_TYPE_USMALLINT:
      return "USMALLINT";
    case DUCKDB_TYPE_UINTEGER:
      return "UINTEGER";
    case DUCKDB_TYPE_UBIGINT:
      return "UBIGINT";
    case DUCKDB_TYPE_HUGEINT:
      return "HUGEINT";
    case DUCKDB_TYPE_UHUGEINT:
      return "UHUGEINT";
    case DUCKDB_TYPE_FLOAT:
      return "FLOAT";
    case DUCKDB_TYPE_DOUBLE:
      return "DOUBLE";
    case DUCKDB_TYPE_DECIMAL:
      return "DECIMAL(" + std::to_string(duckdb_decimal_width(type)) + "," +
             std::to_string(duckdb_decimal_scale(type)) + ")";
    case DUCKDB_TYPE_DATE:
      return "DATE";
    case DUCKDB_TYPE_TIME:
      return "TIME";
    case DUCKDB_TYPE_TIMESTAMP:
      return "TIMESTAMP";
    case DUCKDB_TYPE_TIMESTAMP_S:
      return "TIMESTAMP_S";
    case DUCKDB_TYPE_TIMESTAMP_MS:
      return "TIMESTAMP_MS";
    case DUCKDB_TYPE_TIMESTAMP_NS:
      return "TIMESTAMP_NS";
    case DUCKDB_TYPE_TIMESTAMP_TZ:
      return "TIMESTAMP WITH TIME ZONE";
    case DUCKDB_TYPE_INTERVAL:
      return "INTERVAL";
    case DUCKDB_TYPE_VARCHAR:
      return "VARCHAR";
    case DUCKDB_TYPE_BLOB:
      return "BLOB";
    case DUCKDB_TYPE_UUID:
      return "UUID";
    case DUCKDB_TYPE_ENUM:
      return "ENUM";
    case DUCKDB_TYPE_LIST:
      return child(duckdb_list_type_child_type(type)) + "[]";
    case DUCKDB_TYPE_ARRAY:
      return child(duckdb_array_type_child_type(type)) + "[" +
             std::to_string(duckdb_array_type_array_size(type)) + "]";
    case DUCKDB_TYPE_MAP:
      return "MAP(" + child(duckdb_map_type_key_type(type)) + ", " +
             child(duckdb_map_type_value_type(type)) + ")";
    case DUCKDB_TYPE_STRUCT: {
      std::string out = "STRUCT(";
      idx_t n = duckdb_struct_type_child_count(type);
      for (idx_t i = 0; i < n; ++i) {
        char* name = duckdb_struct_type_child_name(type, i);
        out += (i ? ", " : "") + QuoteIdent(name) + " " +
               child(duckdb_struct_type_child_type(type, i));
        duckdb_free(name);
      }
      return out + ")";
    }
    default:
      return "VARCHAR";
  }
}

// How a result column is projected by the wrapper so that only BOOLEAN,
// BIGINT, DOUBLE and VARCHAR vectors are read.
enum class Projection {
  kBool,
  kInt,
  kBigNumber,
  kDouble,
  kJson,
  kText,
  // Read straight from the query's own vectors (no projection needed).
  kI8,
  kI16,
  kI32,
  kU8,
  kU16,
  kU32,
  kF32,
  kDate,
  kTimestamp,
  kU64,
  kI128,
  kU128,
  kDecimal,  // converted to DOUBLE as CAST(... AS DOUBLE) does
  kEnum,
};

// How one result column is read from the result's vectors.
struct ColumnReader {
  Projection p = Projection::kText;
  duckdb_type internal = DUCKDB_TYPE_INVALID;  // kDecimal, kEnum: the storage type
  uint8_t width = 0, scale = 0;                // kDecimal
  std::vector<std::string> dictionary;         // kEnum
};

// How a column of this type is read without a projection; false when it needs one.
bool DirectProjection(duckdb_type id, Projection* p) {
  switch (id) {
    case DUCKDB_TYPE_BOOLEAN:
      *p = Projection::kBool;
      return true;
    case DUCKDB_TYPE_TINYINT:
      *p = Projection::kI8;
      return true;
    case DUCKDB_TYPE_SMALLINT:
      *p = Projection::kI16;
      return true;
    case DUCKDB_TYPE_INTEGER:
      *p = Projection::kI32;
      return true;
    case DUCKDB_TYPE_BIGINT:
      *p = Projection::kInt;
      return true;
    case DUCKDB_TYPE_UTINYINT:
      *p = Projection::kU8;
      return true;
    case DUCKDB_TYPE_USMALLINT:
      *p = Projection::kU16;
      return true;
    case DUCKDB_TYPE_UINTEGER:
      *p = Projection::kU32;
      return true;
    case DUCKDB_TYPE_FLOAT:
      *p = Projection::kF32;
      return true;
    case DUCKDB_TYPE_DOUBLE:
      *p = Projection::kDouble;
      return true;
    case DUCKDB_TYPE_VARCHAR:
      *p = Projection::kText;
      return true;
    case DUCKDB_TYPE_DATE:
      *p = Projection::kDate;
      return true;
    case DUCKDB_TYPE_TIMESTAMP:
      *p = Projection::kTimestamp;
      return true;
    default:
      return false;
  }
}

// How a column of logical type `type` is read straight from the result
// (the types DirectProjection reads, plus wide integers, decimals and enums,
// converted here as DuckDB's casts would); false when it needs a projection
// by DuckDB (nested and other types).
bool DirectReader(duckdb_logical_type type, ColumnReader* r) {
  duckdb_type id = duckdb_get_type_id(type);
  if (DirectProjection(id, &r->p)) return true;
  switch (id) {
    case DUCKDB_TYPE_UBIGINT:
      r->p = Projection::kU64;
      return true;
    case DUCKDB_TYPE_HUGEINT:
      r->p = Projection::kI128;
      return true;
    case DUCKDB_TYPE_UHUGEINT:
      r->p = Projection::kU128;
      return true;
    case DUCKDB_TYPE_DECIMAL:
      r->p = Projection::kDecimal;
      r->internal = duckdb_decimal_internal_type(type);
      r->width = duckdb_decimal_width(type);
      r->scale = duckdb_decimal_scale(type);
      return true;
    case DUCKDB_TYPE_ENUM: {
      r->p = Projection::kEnum;
      r->internal = duckdb_enum_internal_type(type);
      uint32_t n = duckdb_enum_dictionary_size(type);
      r->dictionary.reserve(n);
      for (uint32_t i = 0; i < n; ++i) {
        char* v = duckdb_enum_dictionary_value(type, i);
        r->dictionary.emplace_back(v ? v : "");
        duckdb_free(v);
      }
      return true;
    }
    default:
      return false;
  }
}

std::string Int128Text(unsigned __int128 magnitude, bool negative) {
  char buf[48];
  char* p = buf + sizeof(buf);
  do {
    *--p = static_cast<char>('0' + static_cast<int>(magnitude % 10));
    magnitude /= 10;
  } while (magnitude);
  if (negative) *--p = '-';
  return std::string(p, buf + sizeof(buf) - p);
}

std::string HugeintText(duckdb_hugeint h) {
  __int128 v = static_cast<__int128>(static_cast<unsigned __int128>(h.upper) << 64 | h.lower);
  unsigned __int128 mag = v < 0 ? -static_cast<unsigned __int128>(v) : v;
  return Int128Text(mag, v < 0);
}

// DECIMAL to DOUBLE as DuckDB casts it: the unscaled integer over 10^scale.
double DecimalValue(const ColumnReader& r, const void* data, idx_t row) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  double unscaled;
  switch (r.internal) {
    case DUCKDB_TYPE_SMALLINT:
      unscaled = static_cast<const int16_t*>(data)[row];
      break;
    case DUCKDB_TYPE_INTEGER:
      unscaled = static_cast<const int32_t*>(data)[row];
      break;
    case DUCKDB_TYPE_BIGINT:
      unscaled = static_cast<double>(static_cast<const int64_t*>(data)[row]);
      break;
    default:
      return duckdb_decimal_to_double(
          {r.width, r.scale, static_cast<const duckdb_hugeint*>(data)[row]});
  }
  return unscaled / (r.scale < 23 ? kPow10[r.scale] : std::pow(10.0, r.scale));
}

uint64_t EnumIndex(const ColumnReader& r, const void* data, idx_t row) {
  switch (r.internal) {
    case DUCKDB_TYPE_UTINYINT:
      return static_cast<const uint8_t*>(data)[row];
    case DUCKDB_TYPE_USMALLINT:
      return static_cast<const uint16_t*>(data)[row];
    default:
      return static_cast<const uint32_t*>(data)[row];
  }
}

// DuckDB's text of a date and a timestamp ("2024-05-01 10:00:00.5").
std::string DateText(duckdb_date_struct d) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%04d-%02d-%02d", d.year, d.month, d.day);
  return buf;
}

std::string TimestampText(duckdb_timestamp ts) {
  duckdb_timestamp_struct t = duckdb_from_timestamp(ts);
  char buf[64];
  snprintf(buf, sizeof(buf), "%s %02d:%02d:%02d", DateText(t.date).c_str(), t.time.hour, t.time.min,
           t.time.sec);
  std::string out = buf;
  if (t.time.micros) {
    snprintf(buf, sizeof(buf), ".%06d", t.time.micros);
    std::string frac = buf;
    while (frac.back() == '0') frac.pop_back();
    out += frac;
  }
  return out;
}

Projection ProjectionOf(duckdb_type id) {
  switch (id) {
    case DUCKDB_TYPE_BOOLEAN:
      return Projection::kBool;
    case DUCKDB_TYPE_TINYINT:
    case DUCKDB_TYPE_SMALLINT:
    case DUCKDB_TYPE_INTEGER:
    case DUCKDB_TYPE_BIGINT:
    case DUCKDB_TYPE_UTINYINT:
    case DUCKDB_TYPE_USMALLINT:
    case DUCKDB_TYPE_UINTEGER:
      return Projection::kInt;
    case DUCKDB_TYPE_UBIGINT:
    case DUCKDB_TYPE_HUGEINT:
    case DUCKDB_TYPE_UHUGEINT:
      return Projection::kBigNumber;
    case DUCKDB_TYPE_FLOAT:
    case DUCKDB_TYPE_DOUBLE:
    case DUCKDB_TYPE_DECIMAL:
      return Projection::kDouble;
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_ARRAY:
    case DUCKDB_TYPE_STRUCT:
    case DUCKDB_TYPE_MAP:
    case DUCKDB_TYPE_UNION:
      return Projection::kJson;
    default:
      return Projection::kText;
  }
}

std::string ProjectExpr(Projection p, const std::string& col) {
  switch (p) {
    case Projection::kBool:
      return col;
    case Projection::kInt:
      return "CAST(" + col + " AS BIGINT)";
    case Projection::kDouble:
      return "CAST(" + col + " AS DOUBLE)";
    case Projection::kJson:
      return "CAST(to_json(" + col + ") AS VARCHAR)";
    case Projection::kBigNumber:
    case Projection::kText:
      return "CAST(" + col + " AS VARCHAR)";
    default:  // read directly
      return col;
  }
}

std::string FormatDouble(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity");
  char buf[40];
  snprintf(buf, sizeof(buf), "%.17g", v);
  // Shortest text that reads back the same value.
  for (int prec = 1; prec <= 17; ++prec) {
    char shorter[40];
    snprintf(shorter, sizeof(shorter), "%.*g", prec, v);
    if (std::strtod(shorter, nullptr) == v) return shorter;
  }
  return buf;
}

std::string VectorString(duckdb_vector v, idx_t row) {
  auto* s = static_cast<duckdb_string_t*>(duckdb_vector_get_data(v)) + row;
  return std::string(duckdb_string_t_data(s), duckdb_string_t_length(*s));
}

// Appends every row of a chunk whose columns follow `proj`.
void AppendChunk(duckdb_data_chunk chunk, const std::vector<ColumnReader>& readers, uint64_t limit,
                 std::vector<std::vector<Cell>>* rows) {
  idx_t n = duckdb_data_chunk_get_size(chunk);
  size_t first = rows->size();
  idx_t take = std::min<uint64_t>(n, limit > first ? limit - first : 0);
  rows->resize(first + take, std::vector<Cell>(readers.size()));
  for (size_t c = 0; c < readers.size(); ++c) {
    const ColumnReader& reader = readers[c];
    duckdb_vector v = duckdb_data_chunk_get_vector(chunk, c);
    uint64_t* validity = duckdb_vector_get_validity(v);
    void* data = duckdb_vector_get_data(v);
    for (idx_t r = 0; r < take; ++r) {
      Cell& cell = (*rows)[first + r][c];
      if (validity && !duckdb_validity_row_is_valid(validity, r)) continue;
      switch (reader.p) {
        case Projection::kBool:
          cell.kind = CellKind::kBool;
          cell.text = static_cast<bool*>(data)[r] ? "true" : "false";
          break;
        case Projection::kInt:
          cell.kind = CellKind::kInt;
          cell.text = std::to_string(static_cast<int64_t*>(data)[r]);
          break;
        case Projection::kBigNumber:
          cell.kind = CellKind::kInt;
          cell.text = VectorString(v, r);
          break;
        case Projection::kDouble: {
          double d = static_cast<double*>(data)[r];
          cell.kind = std::isfinite(d) ? CellKind::kDouble : CellKind::kString;
          cell.text = FormatDouble(d);
          break;
        }
        case Projection::kJson:
          cell.kind = CellKind::kJson;
          cell.text = VectorString(v, r);
          break;
        case Projection::kText:
          cell.kind = CellKind::kString;
          cell.text = VectorString(v, r);
          break;
        case Projection::kI8:
          cell.kind = CellKind::kInt;
          cell.text = std::to_string(static_cast<int8_t*>(data)[r]);
          break;
        case Projection::kI16:
          cell.kind = CellKind::kInt;
          cell.text = std::to_string(static_cast<int16_t*>(data)[r]);
          break;
        case Projection::kI32:
          cell.kind = CellKind::kInt;
          cell.text = std::to_string(static_cast<int32_t*>(data)[r]);
          break;
        case Projection::kU8:
          cell.kind = CellKind::kInt;
          cell.text = std::to_string(static_cast<uint8_t*>(data)[r]);
          break;
        case Projection::kU16:
          cell.kind = CellKind::kInt;
          cell.text = std::to_string(static_cast<uint16_t*>(data)[r]);
          break;
        case Projection::kU32:
          cell.kind = CellKind::kInt;
          cell.text = std::to_string(static_cast<uint32_t*>(data)[r]);
          break;
        case Projection::kF32: {
          double d = static_cast<float*>(data)[r];
          cell.kind = std::isfinite(d) ? CellKind::kDouble : CellKind::kString;
          cell.text = FormatDouble(static_cast<float*>(data)[r]);
          break;
        }
        case Projection::kDate:
          cell.kind = CellKind::kString;
          cell.text = DateText(duckdb_from_date(static_cast<duckdb_date*>(data)[r]));
          break;
        case Projection::kTimestamp:
          cell.kind = CellKind::kString;
          cell.text = TimestampText(static_cast<duckdb_timestamp*>(data)[r]);
          break;
        case Projection::kU64:
          cell.kind = CellKind::kInt;
          cell.text = std::to_string(static_cast<uint64_t*>(data)[r]);
          break;
        case Projection::kI128:
          cell.kind = CellKind::kInt;
          cell.text = HugeintText(static_cast<duckdb_hugeint*>(data)[r]);
          break;
        case Projection::kU128: {
          duckdb_uhugeint u = static_cast<duckdb_uhugeint*>(data)[r];
          cell.kind = CellKind::kInt;
          cell.text = Int128Text(static_cast<unsigned __int128>(u.upper) << 64 | u.lower, false);
          break;
        }
        case Projection::kDecimal: {
          double d = DecimalValue(reader, data, r);
          cell.kind = CellKind::kDouble;
          cell.text = FormatDouble(d);
          break;
        }
        case Projection::kEnum: {
          uint64_t i = EnumIndex(reader, data, r);
          cell.kind = CellKind::kString;
          cell.text = i < reader.dictionary.size() ? reader.dictionary[i] : std::string();
          break;
        }
      }
    }
  }
}

bool HasParquetFile(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    const auto& p = it->path();
    if (it->is_regular_file(ec) && p.extension() == ".parquet" && p.filename().string()[0] != '.')
      return true;
  }
  return false;
}

std::string StripTrailing(std::string sql) {
  while (!sql.empty() &&
         (std::isspace(static_cast<unsigned char>(sql.back())) || sql.back() == ';'))
    sql.pop_back();
  return sql;
}

std::string HumanBytes(uint64_t b) {
  if (b >= (1ull << 30) && b % (1ull << 30) == 0) return std::to_string(b >> 30) + " GiB";
  return std::to_string(b >> 20) + " MiB";
}

}  // namespace

std::string LeadingKeyword(std::string_view sql, bool skip_explain) {
  size_t i = 0;
  auto skip_space = [&] {
    for (;;) {
      while (i < sql.size() && (std::isspace(static_cast<unsigned char>(sql[i])) || sql[i] == '('))
        ++i;
      if (sql.substr(i, 2) == "--") {
        while (i < sql.size() && sql[i] != '\n') ++i;
      } else if (sql.substr(i, 2) == "/*") {
        size_t end = sql.find("*/", i + 2);
        i = end == std::string_view::npos ? sql.size() : end + 2;
      } else {
        return;
      }
    }
  };
  auto word = [&] {
    skip_space();
    std::string w;
    while (i < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[i])) || sql[i] == '_')) {
      w += static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i++])));
    }
    return w;
  };
  std::string w = word();
  if (w == "EXPLAIN" && skip_explain) {
    skip_space();
    if (i < sql.size() && sql[i - 1] == '(') return "(";  // EXPLAIN (options): refused
    size_t save = i;
    std::string next = word();
    if (next == "ANALYZE" || next == "ANALYSE") return word();
    i = save;
    return word();
  }
  return w;
}

int HttpStatusOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kTimeout:
      return 408;
    case StatusCode::kTooLarge:
      return 413;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

const char* ErrorCodeOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return "invalid_query";
    case StatusCode::kPermissionDenied:
      return "not_allowed";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kTimeout:
      return "query_timeout";
    case StatusCode::kTooLarge:
      return "query_memory_limit";
    case StatusCode::kResourceExhausted:
      return "too_many_queries";
    case StatusCode::kUnavailable:
      return "unavailable";
    default:
      return "internal";
  }
}

struct QueryEngine::Impl {
  QueryConfig config;
  fs::path lake_dir;
  Catalog* catalog = nullptr;
  EngineOptions options;
  duckdb_database db = nullptr;

  // Views: guarded by views_mu.
  std::mutex views_mu;
  duckdb_connection admin = nullptr;
  int64_t seen_counter = -1;
  std::map<std::string, std::string> view_sql;  // by qualified name
  std::set<std::string> schemas;
  std::set<std::string> empty_tables;
  // Some table's location holds another table's (errors/ holds the delivery
  // streams' errors/format-conversion-failed/): its file list is rechecked
  // with the empty tables, as new folders appear.
  bool has_nested = false;
  // Every view reads with union_by_name, after a query found files of one
  // table with different columns (see ViewSql).
  bool union_all = false;
  Clock::time_point last_empty_check{};

  // Watchdog of running queries.
  struct Watch {
    Clock::time_point deadline;
    duckdb_connection conn;
    bool fired = false;
  };
  std::mutex wd_mu;
  std::condition_variable wd_cv;
  std::map<uint64_t, Watch> watches;
  uint64_t next_watch = 0;
  bool stopping = false;
  std::thread watchdog;

  // Connections for queries, made before the configuration is locked (with
  // the profiler on); one per allowed concurrent query.
  std::mutex pool_mu;
  std::vector<duckdb_connection> idle;
  // The same without the profiler's metric selection, for EXPLAIN ANALYZE
  // (whose plan shows every metric, files scanned included).
  std::vector<duckdb_connection> idle_plain;

  ~Impl() {
    {
      std::lock_guard lock(wd_mu);
      stopping = true;
    }
    wd_cv.notify_all();
    if (watchdog.joinable()) watchdog.join();
    for (auto& c : idle) duckdb_disconnect(&c);
    for (auto& c : idle_plain) duckdb_disconnect(&c);
    if (admin) duckdb_disconnect(&admin);
    if (db) duckdb_close(&db);
  }

  void RunWatchdog() {
    std::unique_lock lock(wd_mu);
    while (!stopping) {
      auto next = Clock::time_point::max();
      auto now = Clock::now();
      for (auto& [id, w] : watches) {
        if (!w.fired && w.deadline <= now) {
          w.fired = true;
          duckdb_interrupt(w.conn);
        } else if (!w.fired) {
          next = std::min(next, w.deadline);
        }
      }
      if (next == Clock::time_point::max()) {
        wd_cv.wait(lock);
      } else {
        wd_cv.wait_until(lock, next);
      }
    }
  }

  uint64_t AddWatch(duckdb_connection conn) {
    std::lock_guard lock(wd_mu);
    uint64_t id = next_watch++;
    watches[id] = {Clock::now() + config.timeout, conn, false};
    wd_cv.notify_all();
    return id;
  }
  // True when the watchdog interrupted the query.
  bool RemoveWatch(uint64_t id) {
    std::lock_guard lock(wd_mu);
    bool fired = watches[id].fired;
    watches.erase(id);
    return fired;
  }

  std::string AbsLocation(const TableInfo& t) const {
    return (lake_dir / t.location).lexically_normal().string();
  }

  // The globs of a table's files when other tables' locations lie inside
  // its own (`nested`, lake-relative): each folder under `rel` that holds
  // files and no nested table, recursively around the nested ones, plus the
  // files directly in `rel`. Sorted, so that an unchanged lake gives the
  // same view.
  void GlobsOutside(const std::string& rel, const std::vector<std::string>& nested,
                    std::vector<std::string>* out) const {
    const fs::path dir = lake_dir / rel;
    std::error_code ec;
    bool direct = false;
    std::vector<std::string> subs;
    for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (it->is_regular_file(ec) && it->path().extension() == ".parquet" && name[0] != '.')
        direct = true;
      else if (it->is_directory(ec))
        subs.push_back(rel + name + "/");
    }
    std::sort(subs.begin(), subs.end());
    for (const std::string& sub : subs) {
      bool is_nested = false, holds_nested = false;
      for (const std::string& n : nested) {
        is_nested |= n == sub;
        holds_nested |= n.size() > sub.size() && n.compare(0, sub.size(), sub) == 0;
      }
      if (is_nested) continue;
      if (holds_nested) {
        GlobsOutside(sub, nested, out);
      } else if (HasParquetFile(lake_dir / sub)) {
        out->push_back((lake_dir / sub).lexically_normal().string() + "**/*.parquet");
      }
    }
    if (direct) out->push_back((lake_dir / rel).lexically_normal().string() + "*.parquet");
  }

  // `globs`: the table's files when some are left out (GlobsOutside); empty
  // for every file under its location.
  std::string ViewSql(const TableInfo& t, bool has_files,
                      const std::vector<std::string>& globs = {}) const {
    std::string name = QuoteIdent(t.database) + "." + QuoteIdent(t.name);
    if (has_files) {
      std::string loc = AbsLocation(t);
      if (!loc.empty() && loc.back() != '/') loc += '/';
      // union_by_name reads the footer of every file of the table at each
      // query, whatever the partition filter. A table from the configuration
      // that never changed its schema holds files of one shape, written by
      // inlet, so it is read without; a query that meets files of different
      // columns anyway switches every view to it (QueryEngine::Query).
      bool one_shape = !union_all && t.source == "config" && t.schema_version <= 1;
      for (const auto& c : t.columns) one_shape &= !c.deprecated;
      std::string files = QuoteLiteral(loc + "**/*.parquet");
      if (!globs.empty()) {
        files = "[";
        for (const std::string& g : globs)
          files += (files.size() > 1 ? ", " : "") + QuoteLiteral(g);
        files += "]";
      }
      return "CREATE OR REPLACE VIEW " + name + " AS SELECT * FROM read_parquet(" + files +
             ", hive_partitioning = true" + (one_shape ? ")" : ", union_by_name = true)");
    }
    std::string cols;
    auto add = [&](const ColumnInfo& c) {
      auto type = DuckDbTypeOf(c.type);
      cols += std::string(cols.empty() ? "" : ", ") + "CAST(NULL AS " +
              (type.ok() ? type.value() : "VARCHAR") + ") AS " + QuoteIdent(c.name);
    };
    for (const auto& c : t.columns) {
      if (!c.deprecated) add(c);
    }
    for (const auto& c : t.partition_keys) add(c);
    if (cols.empty()) cols = "CAST(NULL AS VARCHAR) AS \"_empty\"";
    return "CREATE OR REPLACE VIEW " + name + " AS SELECT " + cols + " WHERE false";
  }

  // REQUIRES: views_mu held.
  Status RefreshLocked(bool force) {
    auto counter = catalog->ChangeCounter();
    if (!counter.ok()) return counter.status();
    bool recheck_empty = (!empty_tables.empty() || has_nested) &&
                         Clock::now() - last_empty_check >= kEmptyTableRecheck;
    if (!force && counter.value() == seen_counter && !recheck_empty) return Status::Ok();
    auto dbs = catalog->ListDatabases();
    if (!dbs.ok()) return dbs.status();
    for (const auto& d : dbs.value()) {
      if (schemas.count(d.name)) continue;
      INLET_RETURN_IF_ERROR(RunSql(admin, "CREATE SCHEMA IF NOT EXISTS " + QuoteIdent(d.name)));
      schemas.insert(d.name);
    }
    auto tables = catalog->ListTables();
    if (!tables.ok()) return tables.status();
    std::set<std::string> current;
    empty_tables.clear();
    has_nested = false;
    for (const auto& t : tables.value()) {
      std::string qn = t.QualifiedName();
      current.insert(qn);
      // Tables whose folders lie inside this one's are not part of it (their
      // files have other columns).
      std::vector<std::string> nested, globs;
      for (const auto& o : tables.value()) {
        if (o.location.size() > t.location.size() &&
            o.location.compare(0, t.location.size(), t.location) == 0)
          nested.push_back(o.location);
      }
      bool has_files;
      if (nested.empty()) {
        has_files = HasParquetFile(AbsLocation(t));
      } else {
        has_nested = true;
        GlobsOutside(t.location, nested, &globs);
        has_files = !globs.empty();
      }
      if (!has_files) empty_tables.insert(qn);
      std::string sql = ViewSql(t, has_files, globs);
      if (view_sql[qn] == sql) continue;
      Status st = RunSql(admin, sql);
      if (!st.ok())
        return Status::Internal("cannot create the view of " + qn + ": " + st.message());
      view_sql[qn] = sql;
    }
    for (auto it = view_sql.begin(); it != view_sql.end();) {
      if (current.count(it->first)) {
        ++it;
        continue;
      }
      auto parts = SplitQualifiedName(it->first);
      if (parts.ok()) {
        (void)RunSql(admin, "DROP VIEW IF EXISTS " + QuoteIdent(parts->first) + "." +
                                QuoteIdent(parts->second));
      }
      it = view_sql.erase(it);
    }
    seen_counter = counter.value();
    last_empty_check = Clock::now();
    return Status::Ok();
  }

  // Maps a DuckDB error to a status the caller can act on.
  Status MapError(const std::string& message, bool timed_out) const {
    if (timed_out) {
      return Status(StatusCode::kTimeout, "query stopped: it ran longer than the time-out of " +
                                              std::to_string(config.timeout.count()) +
                                              " ms (query.timeout)");
    }
    if (message.find("Permission Error") != std::string::npos) {
      return Status(
          StatusCode::kPermissionDenied,
          "query refused: it reaches outside the lake (only the lake's tables can be read): " +
              message);
    }
    if (message.find("Out of Memory") != std::string::npos) {
      return Status(StatusCode::kTooLarge,
                    "query stopped: it needs more than the memory limit of " +
                        HumanBytes(config.memory_limit) + " (query.memory_limit): " + message);
    }
    if (message.find("INTERRUPT") != std::string::npos)
      return Status::Unavailable("query interrupted: " + message);
    return Status::InvalidArgument(message);
  }
};

QueryEngine::QueryEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

QueryEngine::~QueryEngine() = default;

Result<std::unique_ptr<QueryEngine>> QueryEngine::Open(const QueryConfig& config,
                                                       const fs::path& lake_dir, Catalog* catalog,
                                                       EngineOptions options) {
  std::error_code ec;
  fs::path lake = fs::canonical(lake_dir, ec);
  if (ec)
    return Status::NotFound("the lake folder " + lake_dir.string() +
                            " does not exist: " + ec.message());
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->lake_dir = lake;
  impl->catalog = catalog;
  impl->options = std::move(options);

  duckdb_config cfg;
  if (duckdb_create_config(&cfg) == DuckDBError)
    return Status::Internal("duckdb: cannot create a config");
  std::string memory = std::to_string(std::max<uint64_t>(config.memory_limit >> 20, 16)) + "MiB";
  std::string threads = std::to_string(std::max<uint32_t>(config.threads, 1));
  duckdb_set_config(cfg, "autoload_known_extensions", "false");
  duckdb_set_config(cfg, "autoinstall_known_extensions", "false");
  duckdb_set_config(cfg, "allow_community_extensions", "false");

  duckdb_set_config(cfg, "memory_limit", memory.c_str());
  duckdb_set_config(cfg, "threads", threads.c_str());
  char* err = nullptr;
  duckdb_state state = duckdb_open_ext(nullptr, &impl->db, cfg, &err);
  duckdb_destroy_config(&cfg);
  if (state == DuckDBError) {
    std::string msg = err ? err : "unknown error";
    duckdb_free(err);
    return Status::Internal("duckdb: cannot open: " + msg);
  }
  if (duckdb_connect(impl->db, &impl->admin) == DuckDBError)
    return Status::Internal("duckdb: cannot connect");
  {
    std::lock_guard lock(impl->views_mu);
    INLET_RETURN_IF_ERROR(impl->RefreshLocked(true));
  }
  for (uint32_t i = 0; i < std::max<uint32_t>(config.max_concurrent, 1); ++i) {
    duckdb_connection c = nullptr;
    if (duckdb_connect(impl->db, &c) == DuckDBError)
      return Status::Internal("duckdb: cannot connect");
    impl->idle.push_back(c);
    INLET_RETURN_IF_ERROR(RunSql(c, "PRAGMA enable_profiling = 'no_output'"));
    INLET_RETURN_IF_ERROR(RunSql(c,
                                 "PRAGMA custom_profiling_settings = '{\"TOTAL_BYTES_READ\": "
                                 "\"true\", \"LATENCY\": \"true\"}'"));
    duckdb_connection plain = nullptr;
    if (duckdb_connect(impl->db, &plain) == DuckDBError)
      return Status::Internal("duckdb: cannot connect");
    impl->idle_plain.push_back(plain);
  }
  // Lake files are immutable once committed (a replay rewrites identical
  // bytes), so their footers are cached across queries: binding a view over
  // many files then costs no file reads.
  INLET_RETURN_IF_ERROR(RunSql(impl->admin, "SET parquet_metadata_cache = true"));
  // Confine DuckDB to the lake, then lock the configuration.
  std::string dir = lake.string() + "/";
  std::string paths;
  for (const auto& f : impl->options.output_files) {
    fs::path abs = fs::absolute(f).lexically_normal();
    paths += (paths.empty() ? "" : ", ") + QuoteLiteral(abs.string());
  }
  INLET_RETURN_IF_ERROR(
      RunSql(impl->admin, "SET allowed_directories = [" + QuoteLiteral(dir) + "]"));
  if (!paths.empty())
    INLET_RETURN_IF_ERROR(RunSql(impl->admin, "SET allowed_paths = [" + paths + "]"));
  INLET_RETURN_IF_ERROR(RunSql(impl->admin, "SET enable_external_access = false"));
  INLET_RETURN_IF_ERROR(RunSql(impl->admin, "SET lock_configuration = true"));
  Impl* raw = impl.get();
  impl->watchdog = std::thread([raw] { raw->RunWatchdog(); });
  return std::unique_ptr<QueryEngine>(new QueryEngine(std::move(impl)));
}

Status QueryEngine::Refresh() {
  std::lock_guard lock(impl_->views_mu);
  return impl_->RefreshLocked(true);
}

std::string QueryEngine::ViewSql(const TableInfo& table, bool has_files) const {
  return impl_->ViewSql(table, has_files);
}

namespace {

// A query connection taken from the pool and given back on destruction.
struct PooledConn {
  PooledConn(QueryEngine::Impl* impl, bool plain)
      : impl(impl), pool(plain ? &impl->idle_plain : &impl->idle) {
    std::lock_guard lock(impl->pool_mu);
    if (!pool->empty()) {
      c = pool->back();
      pool->pop_back();
    }
  }
  ~PooledConn() {
    if (!c) return;
    std::lock_guard lock(impl->pool_mu);
    pool->push_back(c);
  }
  QueryEngine::Impl* impl;
  std::vector<duckdb_connection>* pool;
  duckdb_connection c = nullptr;
};

struct Prepared {
  duckdb_prepared_statement p = nullptr;
  ~Prepared() { duckdb_destroy_prepare(&p); }
};

struct Extracted {
  duckdb_extracted_statements e = nullptr;
  ~Extracted() { duckdb_destroy_extracted(&e); }
};

// Decrements a counter on destruction.
struct Slot {
  std::atomic<uint32_t>* counter;
  ~Slot() { counter->fetch_sub(1); }
};

}  // namespace

// The checks and the run shared by Query and ExportParquet. `export_to`
// empty: rows into *out; else the result is written there as Parquet.
static Status RunChecked(QueryEngine::Impl* impl, std::atomic<uint32_t>* running,
                         const std::string& sql, uint64_t max_rows, const fs::path& export_to,
                         QueryResult* out);

// True when a query failed because files of one table have different
// columns and the table's view reads without union_by_name: the views are
// rebuilt with it (once per engine).
static bool SwitchToUnionByName(QueryEngine::Impl* impl, const Status& st) {
  if (st.ok()) return false;
  const std::string& m = st.message();
  if (m.find("union_by_name") == std::string::npos &&
      m.find("schema mismatch") == std::string::npos)
    return false;
  std::lock_guard lock(impl->views_mu);
  if (impl->union_all) return false;
  impl->union_all = true;
  spdlog::warn(
      "query engine: files of one table have different columns ({}); every table is "
      "read with union_by_name from now on",
      m.substr(0, 200));
  return impl->RefreshLocked(true).ok();
}

Result<QueryResult> QueryEngine::Query(const std::string& sql, uint64_t max_rows) {
  QueryResult result;
  Status st = RunChecked(impl_.get(), &running_, sql, max_rows, {}, &result);
  if (SwitchToUnionByName(impl_.get(), st))
    st = RunChecked(impl_.get(), &running_, sql, max_rows, {}, &result);
  if (!st.ok()) return st;
  return result;
}

Status QueryEngine::ExportParquet(const std::string& sql, const fs::path& output) {
  fs::path abs = fs::absolute(output).lexically_normal();
  bool allowed = false;
  for (const auto& f : impl_->options.output_files)
    allowed |= fs::absolute(f).lexically_normal() == abs;
  if (!allowed)
    return Status(StatusCode::kPermissionDenied,
                  "output " + abs.string() + " was not declared at open");
  QueryResult unused;
  Status st = RunChecked(impl_.get(), &running_, sql, 0, abs, &unused);
  if (SwitchToUnionByName(impl_.get(), st))
    st = RunChecked(impl_.get(), &running_, sql, 0, abs, &unused);
  return st;
}

static Status RunChecked(QueryEngine::Impl* impl, std::atomic<uint32_t>* running,
                         const std::string& sql, uint64_t max_rows, const fs::path& export_to,
                         QueryResult* out) {
  auto start = Clock::now();
  const QueryConfig& cfg = impl->config;
  if (running->fetch_add(1) >= cfg.max_concurrent) {
    running->fetch_sub(1);
    return Status::ResourceExhausted(
        std::to_string(cfg.max_concurrent) +
        " queries are already running (query.max_concurrent); retry in " +
        std::to_string(cfg.retry_after.count()) + " s");
  }
  Slot slot{running};
  if (max_rows == 0) max_rows = cfg.default_max_rows;
  max_rows = std::min(max_rows, cfg.max_rows);

  {
    std::lock_guard lock(impl->views_mu);
    INLET_RETURN_IF_ERROR(impl->RefreshLocked(false));
  }
  std::string kw = LeadingKeyword(sql, false);
  PooledConn conn(impl, kw == "EXPLAIN");
  if (!conn.c) return Status::Unavailable("query engine has no free connection");
  Extracted ex;
  idx_t count = duckdb_extract_statements(conn.c, sql.c_str(), &ex.e);
  if (count == 0) {
    const char* e = duckdb_extract_statements_error(ex.e);
    return Status::InvalidArgument(e ? e : "empty query: send one SELECT statement");
  }
  if (count > 1)
    return Status::InvalidArgument("send one statement per query (got " + std::to_string(count) +
                                   ")");
  // Read-only: the statement (and what an EXPLAIN explains) must be a query.
  std::string inner = kw == "EXPLAIN" ? LeadingKeyword(sql, true) : kw;
  if (!ReadOnlyKeywords().count(inner)) {
    return Status(StatusCode::kPermissionDenied,
                  "query refused: the lake is read-only here; only SELECT queries (and EXPLAIN of "
                  "one) run, not " +
                      (inner.empty() ? std::string("this statement") : inner + " statements"));
  }
  std::string body = StripTrailing(sql);
  bool explain = kw == "EXPLAIN";
  const char* kNotReadOnly =
      "query refused: the lake is read-only here; only SELECT queries (and EXPLAIN of one) run";
  DuckResult first, projected;
  duckdb_result* result = first.get();
  std::vector<ColumnReader> readers;
  out->columns.clear();
  // Runs `what` on the query's connection under the time-out.
  auto run = [&](auto&& what) {
    uint64_t watch = impl->AddWatch(conn.c);
    duckdb_state state = what();
    bool fired = impl->RemoveWatch(watch);
    if (state != DuckDBError) return Status::Ok();
    const char* e = duckdb_result_error(result);
    std::string message = e ? e : "query failed";
    if (!fired && message.find("Expected ") != std::string::npos &&
        message.find(" parameters, but none were supplied") != std::string::npos)
      return Status::InvalidArgument("the query has parameters ($1, ?): inline the values");
    return impl->MapError(message, fired);
  };
  if (explain || !export_to.empty()) {
    // The statement itself is prepared and its type checked before it runs.
    Prepared prep;
    if (duckdb_prepare_extracted_statement(conn.c, ex.e, 0, &prep.p) == DuckDBError) {
      const char* e = duckdb_prepare_error(prep.p);
      return impl->MapError(e ? e : "cannot prepare the query", false);
    }
    duckdb_statement_type type = duckdb_prepared_statement_type(prep.p);
    if (type != DUCKDB_STATEMENT_TYPE_SELECT && type != DUCKDB_STATEMENT_TYPE_EXPLAIN)
      return Status(StatusCode::kPermissionDenied, kNotReadOnly);
    if (duckdb_nparams(prep.p) > 0)
      return Status::InvalidArgument("the query has parameters ($1, ?): inline the values");
    if (!export_to.empty()) {
      std::string copy = "COPY (\n" + body + "\n) TO " + QuoteLiteral(export_to.string()) +
                         " (FORMAT parquet, COMPRESSION zstd)";
      INLET_RETURN_IF_ERROR(run([&] { return duckdb_query(conn.c, copy.c_str(), result); }));
    } else {
      idx_t ncols = duckdb_prepared_statement_column_count(prep.p);
      for (idx_t i = 0; i < ncols; ++i) {
        duckdb_logical_type t = duckdb_prepared_statement_column_logical_type(prep.p, i);
        const char* name = duckdb_prepared_statement_column_name(prep.p, i);  // caller frees
        out->columns.push_back({name ? name : "", DuckTypeName(t)});
        duckdb_free(const_cast<char*>(name));
        duckdb_destroy_logical_type(&t);
        readers.push_back({});  // the plan's text
      }
      INLET_RETURN_IF_ERROR(run([&] { return duckdb_execute_prepared(prep.p, result); }));
    }
  } else {
    // One bind and one run: the query wrapped with the row limit. The
    // wrapper only parses around a query, so one statement that parses is
    // one SELECT. (A prepared statement over the lake's views is bound
    // again when it runs, since its file list may change: preparing to
    // learn the result's types first would bind every query twice. The
    // types are read from the result instead.)
    std::string wrapped =
        "SELECT * FROM (\n" + body + "\n) AS _q LIMIT " + std::to_string(max_rows + 1);
    {
      Extracted check;
      if (duckdb_extract_statements(conn.c, wrapped.c_str(), &check.e) != 1) {
        const char* e = duckdb_extract_statements_error(check.e);
        return Status::InvalidArgument(e ? e : "send one SELECT statement");
      }
    }
    INLET_RETURN_IF_ERROR(run([&] { return duckdb_query(conn.c, wrapped.c_str(), result); }));
    if (duckdb_result_statement_type(*result) != DUCKDB_STATEMENT_TYPE_SELECT)
      return Status(StatusCode::kPermissionDenied, kNotReadOnly);
    idx_t ncols = duckdb_column_count(result);
    bool direct = true;
    std::string select, aliases;
    for (idx_t i = 0; i < ncols; ++i) {
      duckdb_logical_type t = duckdb_column_logical_type(result, i);
      const char* name = duckdb_column_name(result, i);  // owned by the result
      out->columns.push_back({name ? name : "", DuckTypeName(t)});
      ColumnReader reader;
      if (!DirectReader(t, &reader)) {
        direct = false;
        reader = ColumnReader{};
        reader.p = ProjectionOf(duckdb_get_type_id(t));
      }
      duckdb_destroy_logical_type(&t);
      std::string alias = "\"c" + std::to_string(i) + "\"";
      select += (i ? ", " : "") + ProjectExpr(reader.p, alias);
      aliases += (i ? ", " : "") + alias;
      readers.push_back(std::move(reader));
    }
    if (!direct) {
      // Nested and other types are converted by DuckDB (to_json, casts), in
      // a second run of the query under that projection.
      std::string sql2 = "SELECT " + select + " FROM (\n" + body + "\n) AS _q(" + aliases +
                         ") LIMIT " + std::to_string(max_rows + 1);
      duckdb_destroy_result(result);
      result = projected.get();
      INLET_RETURN_IF_ERROR(run([&] { return duckdb_query(conn.c, sql2.c_str(), result); }));
      if (duckdb_column_count(result) != readers.size())
        return Status::Internal("the projected query changed its columns");
    }
  }
  if (export_to.empty()) {
    out->rows.clear();
    uint64_t limit = explain ? UINT64_MAX : max_rows;
    uint64_t total = 0;
    for (;;) {
      duckdb_data_chunk chunk = duckdb_fetch_chunk(*result);
      if (!chunk) break;
      total += duckdb_data_chunk_get_size(chunk);
      AppendChunk(chunk, readers, limit, &out->rows);
      duckdb_destroy_data_chunk(&chunk);
    }
    out->truncated = total > out->rows.size();
  }
  duckdb_profiling_info info = duckdb_get_profiling_info(conn.c);
  if (info) {
    duckdb_value v = duckdb_profiling_info_get_value(info, "TOTAL_BYTES_READ");
    if (v) {
      char* s = duckdb_get_varchar(v);
      out->bytes_scanned = s ? std::strtoull(s, nullptr, 10) : 0;
      duckdb_free(s);
      duckdb_destroy_value(&v);
    }
  }
  out->elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return Status::Ok();
}

}  // namespace inlet::lake
