// ParquetWriter: the DuckDB adapter of the delivery streams. It writes
// columnar rows (schema::ColumnVector, nested types included) to one Parquet
// file: a C API table function fills DuckDB data chunks straight from the
// vectors and `COPY (SELECT ...) TO file (FORMAT parquet, ...)` writes them.
// Owns an in-memory DuckDB database; not thread-safe (one per stream).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "delivery/delivery_stream_config.h"
#include "schema/column_batch.h"

namespace inlet::delivery {

// One output column: `data` read at the requested rows.
struct WriteColumn {
  std::string name;
  const schema::ColumnVector* data = nullptr;
  bool json = false;  // a string column holding JSON text, written with the JSON logical type
  // When not empty: `data` is an int column of codes into these labels, and
  // the column is written as strings from a fixed dictionary (DuckDB ENUM;
  // Parquet: a dictionary-encoded UTF-8 column holding every label), which
  // costs no string copy or hash per row. For small vocabularies only: each
  // file's dictionary holds all labels.
  std::span<const std::string> labels;
};

// The zstd level inlet writes with unless told otherwise. DuckDB's own
// default is 3; on inlet's event tables (raw events with unique ids, curated
// events with hex pseudonyms), level 2 took about 3% fewer instructions per
// written row and gave 3-6% smaller files than 3 (docs/benchmarks.md).
inline constexpr int kDefaultZstdLevel = 2;

struct ParquetOptions {
  Compression compression = Compression::kZstd;
  int compression_level = 0;  // zstd level 1..22; 0: kDefaultZstdLevel
  uint64_t row_group_rows = 122'880;
};

class ParquetWriter {
 public:
  // `threads`: DuckDB worker threads (1 keeps a stream on one core).
  static Result<std::unique_ptr<ParquetWriter>> Create(int threads = 1);
  ~ParquetWriter();
  ParquetWriter(const ParquetWriter&) = delete;
  ParquetWriter& operator=(const ParquetWriter&) = delete;

  // Writes rows `rows` (indices into every column, in this order) to a new
  // Parquet file at `path`, replacing it. Returns the file size in bytes.
  // REQUIRES: every column has more entries than the largest index.
  Result<uint64_t> Write(std::span<const WriteColumn> columns, std::span<const uint32_t> rows,
                         const ParquetOptions& options, const std::filesystem::path& path);

  // The DuckDB type of a schema type, as SQL ("STRUCT(os VARCHAR, ...)"), for docs and tests.
  static std::string DuckDbTypeName(const schema::DataType& type);

  struct Impl;

 private:
  explicit ParquetWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace inlet::delivery
