// FieldMapper: the flatten / filter / parse stage. A declarative mapping of
// JSON paths of the validated table row to flat curated columns; every field
// not mapped is dropped. Timestamps and dates arrive parsed by validation;
// ages are derived from an age field or a birth date relative to the event
// time; gender values are normalised (NormalizeGender). Immutable after
// Create; Map is thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "process/flat_row.h"
#include "process/process_config.h"
#include "schema/column_batch.h"
#include "schema/table_schema.h"

namespace inlet::process {

// "$.a.b", ".a.b" or "a.b" -> {"a", "b"}.
Result<std::vector<std::string>> SplitJsonPath(std::string_view path);

class FieldMapper {
 public:
  // `time_column`: the mapped timestamp column ages are computed against
  // ("" or absent: the arrival time).
  static Result<std::unique_ptr<FieldMapper>> Create(const schema::TableSchema& table,
                                                     const std::vector<FieldMapping>& mapping,
                                                     const std::string& time_column);

  const std::vector<FlatColumn>& columns() const { return columns_; }
  int ColumnIndex(std::string_view name) const;

  // Fills *out (resized to columns()) from row `row` of `batch`.
  void Map(const schema::ColumnBatch& batch, size_t row, FlatRow* out) const;

 private:
  struct Source {
    int column = -1;            // top-level table column
    std::vector<int> children;  // struct field indexes below it
    schema::TypeKind kind = schema::TypeKind::kString;
  };
  struct Slot {
    Derive derive = Derive::kNone;
    Source source;  // column < 0 when absent
    Source birth;   // kAge
  };
  static Result<Source> Resolve(const schema::TableSchema& table, const std::string& path);
  static const schema::ColumnVector* Leaf(const schema::ColumnBatch& batch, const Source& s,
                                          size_t row);

  std::vector<FlatColumn> columns_;
  std::vector<Slot> slots_;
  int time_index_ = -1;
};

}  // namespace inlet::process
