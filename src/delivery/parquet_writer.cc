#include "delivery/parquet_writer.h"

#include <duckdb.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace inlet::delivery {

using schema::ColumnVector;
using schema::DataType;
using schema::TypeKind;

namespace {

constexpr char kTableFunction[] = "inlet_rows";
constexpr int kDecimalInt16Max = 4;
constexpr int kDecimalInt32Max = 9;
constexpr int kDecimalInt64Max = 18;

duckdb_logical_type MakeLogicalType(const DataType& t) {
  switch (t.kind) {
    case TypeKind::kString:
      return duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
    case TypeKind::kBigint:
      return duckdb_create_logical_type(DUCKDB_TYPE_BIGINT);
    case TypeKind::kInt:
      return duckdb_create_logical_type(DUCKDB_TYPE_INTEGER);
    case TypeKind::kDouble:
      return duckdb_create_logical_type(DUCKDB_TYPE_DOUBLE);
    case TypeKind::kBoolean:
      return duckdb_create_logical_type(DUCKDB_TYPE_BOOLEAN);
    case TypeKind::kTimestamp:
      return duckdb_create_logical_type(DUCKDB_TYPE_TIMESTAMP);
    case TypeKind::kDate:
      return duckdb_create_logical_type(DUCKDB_TYPE_DATE);
    case TypeKind::kDecimal:
      return duckdb_create_decimal_type(static_cast<uint8_t>(t.precision),
                                        static_cast<uint8_t>(t.scale));
    case TypeKind::kArray: {
      duckdb_logical_type child = MakeLogicalType(*t.element);
      duckdb_logical_type list = duckdb_create_list_type(child);
      duckdb_destroy_logical_type(&child);
      return list;
    }
    case TypeKind::kMap: {
      duckdb_logical_type k = MakeLogicalType(*t.key);
      duckdb_logical_type v = MakeLogicalType(*t.value);
      duckdb_logical_type map = duckdb_create_map_type(k, v);
      duckdb_destroy_logical_type(&k);
      duckdb_destroy_logical_type(&v);
      return map;
    }
    case TypeKind::kStruct: {
      std::vector<duckdb_logical_type> types;
      std::vector<const char*> names;
      for (const schema::Field& f : t.fields) {
        types.push_back(MakeLogicalType(*f.type));
        names.push_back(f.name.c_str());
      }
      duckdb_logical_type s = duckdb_create_struct_type(types.data(), names.data(), types.size());
      for (auto& c : types) duckdb_destroy_logical_type(&c);
      return s;
    }
  }
  return duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
}

template <typename T>
void Gather(const T* src, const uint32_t* rows, size_t n, void* dst_raw) {
  T* dst = static_cast<T*>(dst_raw);
  if (n > 0 && rows[n - 1] - rows[0] == n - 1) {  // a contiguous run (rows are increasing)
    std::memcpy(dst, src + rows[0], n * sizeof(T));
    return;
  }
  for (size_t j = 0; j < n; ++j) dst[j] = src[rows[j]];
}

void WriteValidity(const ColumnVector& src, duckdb_vector dst, const uint32_t* rows, size_t n) {
  if (!src.has_nulls()) {
    uint64_t* mask = duckdb_vector_get_validity(dst);
    if (mask != nullptr) {
      for (size_t j = 0; j < n; ++j) duckdb_validity_set_row_valid(mask, j);
    }
    return;
  }
  duckdb_vector_ensure_validity_writable(dst);
  uint64_t* mask = duckdb_vector_get_validity(dst);
  for (size_t j = 0; j < n; ++j) duckdb_validity_set_row_validity(mask, j, src.IsValid(rows[j]));
}

// Copies rows[0..n) of src into dst[0..n).
void Fill(const ColumnVector& src, duckdb_vector dst, const uint32_t* rows, size_t n) {
  WriteValidity(src, dst, rows, n);
  const DataType& t = src.type();
  switch (t.kind) {
    case TypeKind::kBigint:
    case TypeKind::kTimestamp:
      Gather(src.int64_data(), rows, n, duckdb_vector_get_data(dst));
      return;
    case TypeKind::kInt:
    case TypeKind::kDate:
      Gather(src.int32_data(), rows, n, duckdb_vector_get_data(dst));
      return;
    case TypeKind::kDouble:
      Gather(src.double_data(), rows, n, duckdb_vector_get_data(dst));
      return;
    case TypeKind::kBoolean:
      static_assert(sizeof(bool) == 1);
      Gather(src.bool_data(), rows, n, duckdb_vector_get_data(dst));
      return;
    case TypeKind::kDecimal: {
      void* out = duckdb_vector_get_data(dst);
      const schema::Int128* in = src.decimal_data();
      for (size_t j = 0; j < n; ++j) {
        schema::Int128 v = in[rows[j]];
        if (t.precision <= kDecimalInt16Max) {
          static_cast<int16_t*>(out)[j] = static_cast<int16_t>(v);
        } else if (t.precision <= kDecimalInt32Max) {
          static_cast<int32_t*>(out)[j] = static_cast<int32_t>(v);
        } else if (t.precision <= kDecimalInt64Max) {
          static_cast<int64_t*>(out)[j] = static_cast<int64_t>(v);
        } else {
          duckdb_hugeint h;
          h.lower = static_cast<uint64_t>(v);
          h.upper = static_cast<int64_t>(v >> 64);
          static_cast<duckdb_hugeint*>(out)[j] = h;
        }
      }
      return;
    }
    case TypeKind::kString:
      for (size_t j = 0; j < n; ++j) {
        if (!src.IsValid(rows[j])) continue;
        std::string_view s = src.StringAt(rows[j]);
        duckdb_vector_assign_string_element_len(dst, j, s.data(), s.size());
      }
      return;
    case TypeKind::kStruct:
      for (size_t i = 0; i < src.child_count(); ++i) {
        Fill(*src.child(i), duckdb_struct_vector_get_child(dst, i), rows, n);
      }
      return;
    case TypeKind::kArray:
    case TypeKind::kMap: {
      std::vector<uint32_t> child_rows;
      auto* entries = static_cast<duckdb_list_entry*>(duckdb_vector_get_data(dst));
      for (size_t j = 0; j < n; ++j) {
        uint64_t begin = src.ListBegin(rows[j]);
        uint64_t end = src.ListEnd(rows[j]);
        entries[j].offset = child_rows.size();
        entries[j].length = end - begin;
        for (uint64_t k = begin; k < end; ++k) child_rows.push_back(static_cast<uint32_t>(k));
      }
      duckdb_list_vector_reserve(dst, child_rows.size());
      duckdb_list_vector_set_size(dst, child_rows.size());
      duckdb_vector child = duckdb_list_vector_get_child(dst);
      if (t.kind == TypeKind::kArray) {
        Fill(*src.child(0), child, child_rows.data(), child_rows.size());
      } else {
        Fill(*src.child(0), duckdb_struct_vector_get_child(child, 0), child_rows.data(),
             child_rows.size());
        Fill(*src.child(1), duckdb_struct_vector_get_child(child, 1), child_rows.data(),
             child_rows.size());
      }
      return;
    }
  }
}

// Copies the codes of rows[0..n) of an int column into an ENUM vector, whose
// codes are 8, 16 or 32 bits wide by the size of its dictionary.
void FillEnum(const ColumnVector& src, duckdb_vector dst, const uint32_t* rows, size_t n) {
  WriteValidity(src, dst, rows, n);
  duckdb_logical_type type = duckdb_vector_get_column_type(dst);
  const duckdb_type internal = duckdb_enum_internal_type(type);
  duckdb_destroy_logical_type(&type);
  const int32_t* codes = src.int32_data();
  void* out = duckdb_vector_get_data(dst);
  for (size_t j = 0; j < n; ++j) {
    const auto code = static_cast<uint32_t>(codes[rows[j]]);
    if (internal == DUCKDB_TYPE_UTINYINT) {
      static_cast<uint8_t*>(out)[j] = static_cast<uint8_t>(code);
    } else if (internal == DUCKDB_TYPE_USMALLINT) {
      static_cast<uint16_t*>(out)[j] = static_cast<uint16_t>(code);
    } else {
      static_cast<uint32_t*>(out)[j] = code;
    }
  }
}

std::string QuoteIdentifier(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

std::string QuoteLiteral(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  return out + "'";
}

struct ScanState {
  size_t position = 0;
};

}  // namespace

struct ParquetWriter::Impl {
  duckdb_database db = nullptr;
  duckdb_connection conn = nullptr;
  bool json_type = false;
  // The request being written, read by the table function callbacks.
  std::span<const WriteColumn> columns;
  std::span<const uint32_t> rows;

  ~Impl() {
    if (conn) duckdb_disconnect(&conn);
    if (db) duckdb_close(&db);
  }

  Status Query(const std::string& sql) {
    duckdb_result result;
    duckdb_state state = duckdb_query(conn, sql.c_str(), &result);
    Status st;
    if (state != DuckDBSuccess) {
      const char* err = duckdb_result_error(&result);
      st = Status::IoError(std::string("DuckDB: ") + (err ? err : "query failed"));
    }
    duckdb_destroy_result(&result);
    return st;
  }

  static void Bind(duckdb_bind_info info) {
    auto* self = static_cast<Impl*>(duckdb_bind_get_extra_info(info));
    for (const WriteColumn& c : self->columns) {
      duckdb_logical_type t;
      if (c.labels.empty()) {
        t = MakeLogicalType(c.data->type());
      } else {
        std::vector<const char*> names;
        for (const std::string& l : c.labels) names.push_back(l.c_str());
        t = duckdb_create_enum_type(names.data(), names.size());
      }
      duckdb_bind_add_result_column(info, c.name.c_str(), t);
      duckdb_destroy_logical_type(&t);
    }
    duckdb_bind_set_cardinality(info, self->rows.size(), true);
  }
  static void Init(duckdb_init_info info) {
    duckdb_init_set_init_data(info, new ScanState(),
                              [](void* p) { delete static_cast<ScanState*>(p); });
    duckdb_init_set_max_threads(info, 1);
  }
  static void Scan(duckdb_function_info info, duckdb_data_chunk output) {
    auto* self = static_cast<Impl*>(duckdb_function_get_extra_info(info));
    auto* state = static_cast<ScanState*>(duckdb_function_get_init_data(info));
    size_t n = std::min<size_t>(duckdb_vector_size(), self->rows.size() - state->position);
    const uint32_t* rows = self->rows.data() + state->position;
    for (size_t c = 0; c < self->columns.size(); ++c) {
      duckdb_vector dst = duckdb_data_chunk_get_vector(output, c);
      if (self->columns[c].labels.empty()) {
        Fill(*self->columns[c].data, dst, rows, n);
      } else {
        FillEnum(*self->columns[c].data, dst, rows, n);
      }
    }
    duckdb_data_chunk_set_size(output, n);
    state->position += n;
  }
};

ParquetWriter::ParquetWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ParquetWriter::~ParquetWriter() = default;

Result<std::unique_ptr<ParquetWriter>> ParquetWriter::Create(int threads) {
  auto impl = std::make_unique<Impl>();
  duckdb_config config;
  if (duckdb_create_config(&config) != DuckDBSuccess)
    return Status::Internal("DuckDB: cannot create config");
  std::string thread_count = std::to_string(std::max(1, threads));
  duckdb_set_config(config, "threads", thread_count.c_str());
  char* open_error = nullptr;
  duckdb_state st = duckdb_open_ext(":memory:", &impl->db, config, &open_error);
  duckdb_destroy_config(&config);
  if (st != DuckDBSuccess) {
    std::string msg = open_error ? open_error : "unknown error";
    duckdb_free(open_error);
    return Status::Internal("DuckDB: cannot open an in-memory database: " + msg);
  }
  if (duckdb_connect(impl->db, &impl->conn) != DuckDBSuccess) {
    return Status::Internal("DuckDB: cannot connect");
  }
  duckdb_table_function fn = duckdb_create_table_function();
  duckdb_table_function_set_name(fn, kTableFunction);
  duckdb_table_function_set_extra_info(fn, impl.get(), nullptr);
  duckdb_table_function_set_bind(fn, &Impl::Bind);
  duckdb_table_function_set_init(fn, &Impl::Init);
  duckdb_table_function_set_function(fn, &Impl::Scan);
  duckdb_state reg = duckdb_register_table_function(impl->conn, fn);
  duckdb_destroy_table_function(&fn);
  if (reg != DuckDBSuccess) return Status::Internal("DuckDB: cannot register the row scan");
  // The JSON logical type needs DuckDB's json extension (built in on most builds).
  impl->json_type = impl->Query("SELECT '{}'::JSON").ok();
  return std::unique_ptr<ParquetWriter>(new ParquetWriter(std::move(impl)));
}

Result<uint64_t> ParquetWriter::Write(std::span<const WriteColumn> columns,
                                      std::span<const uint32_t> rows, const ParquetOptions& options,
                                      const std::filesystem::path& path) {
  if (columns.empty()) return Status::InvalidArgument("a Parquet file needs at least one column");
  for (const WriteColumn& c : columns) {
    if (c.labels.empty()) continue;
    if (c.data->type().kind != TypeKind::kInt)
      return Status::InvalidArgument("column " + c.name + ": labels need an int column of codes");
    for (uint32_t r : rows) {
      if (c.data->IsValid(r) && static_cast<uint32_t>(c.data->int32_data()[r]) >= c.labels.size()) {
        return Status::InvalidArgument(
            "column " + c.name + ": code " + std::to_string(c.data->int32_data()[r]) + " at row " +
            std::to_string(r) + " has no label (" + std::to_string(c.labels.size()) + " labels)");
      }
    }
  }
  impl_->columns = columns;
  impl_->rows = rows;
  std::string select;
  for (const WriteColumn& c : columns) {
    if (!select.empty()) select += ", ";
    if (c.json && impl_->json_type) {
      select += QuoteIdentifier(c.name) + "::JSON AS " + QuoteIdentifier(c.name);
    } else {
      select += QuoteIdentifier(c.name);
    }
  }
  std::string sql = "COPY (SELECT " + select + " FROM " + kTableFunction + "()) TO " +
                    QuoteLiteral(path.string()) + " (FORMAT parquet, COMPRESSION " +
                    CompressionName(options.compression) + ", ROW_GROUP_SIZE " +
                    std::to_string(std::max<uint64_t>(1, options.row_group_rows));
  if (options.compression == Compression::kZstd) {
    const int level =
        options.compression_level != 0 ? options.compression_level : kDefaultZstdLevel;
    sql += ", COMPRESSION_LEVEL " + std::to_string(level);
  }
  sql += ")";
  Status st = impl_->Query(sql);
  impl_->columns = {};
  impl_->rows = {};
  if (!st.ok()) return Status::IoError("writing " + path.string() + ": " + st.message());
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) return Status::FromErrno(errno, "stat " + path.string());
  return static_cast<uint64_t>(info.st_size);
}

std::string ParquetWriter::DuckDbTypeName(const DataType& type) {
  switch (type.kind) {
    case TypeKind::kString:
      return "VARCHAR";
    case TypeKind::kBigint:
      return "BIGINT";
    case TypeKind::kInt:
      return "INTEGER";
    case TypeKind::kDouble:
      return "DOUBLE";
    case TypeKind::kBoolean:
      return "BOOLEAN";
    case TypeKind::kTimestamp:
      return "TIMESTAMP";
    case TypeKind::kDate:
      return "DATE";
    case TypeKind::kDecimal:
      return "DECIMAL(" + std::to_string(type.precision) + "," + std::to_string(type.scale) + ")";
    case TypeKind::kArray:
      return DuckDbTypeName(*type.element) + "[]";
    case TypeKind::kMap:
      return "MAP(" + DuckDbTypeName(*type.key) + ", " + DuckDbTypeName(*type.value) + ")";
    case TypeKind::kStruct: {
      std::string out = "STRUCT(";
      for (size_t i = 0; i < type.fields.size(); ++i) {
        if (i > 0) out += ", ";
        const std::string& name = type.fields[i].name;
        bool plain = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0]));
        for (char ch : name)
          plain = plain && (std::islower(static_cast<unsigned char>(ch)) ||
                            std::isdigit(static_cast<unsigned char>(ch)) || ch == '_');
        out += (plain ? name : QuoteIdentifier(name)) + " " + DuckDbTypeName(*type.fields[i].type);
      }
      return out + ")";
    }
  }
  return "VARCHAR";
}

}  // namespace inlet::delivery
