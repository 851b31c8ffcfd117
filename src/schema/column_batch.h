// Columnar buffers of converted rows: one ColumnVector per column, nested
// types as child vectors (struct fields aligned with their parent's rows,
// array and map entries addressed by offsets), so that a writer can copy a
// run of rows into another columnar format (DuckDB data chunks) without
// per-value dispatch. A batch owns its memory; thread-compatible.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "schema/table_schema.h"

namespace inlet::schema {

using Int128 = __int128;  // unscaled decimal values (precision up to 38)

class ColumnVector {
 public:
  // `type` must outlive the vector.
  explicit ColumnVector(const DataType* type);
  ColumnVector(const ColumnVector&) = delete;
  ColumnVector& operator=(const ColumnVector&) = delete;

  const DataType& type() const { return *type_; }
  TypeKind kind() const { return type_->kind; }
  size_t size() const { return validity_.size(); }
  bool IsValid(size_t row) const { return validity_[row] != 0; }
  bool has_nulls() const { return null_count_ != 0; }

  // A null entry; a struct also appends a null to each child so that its
  // fields stay aligned with its rows.
  void AppendNull();
  // kBigint, kTimestamp (microseconds).
  void AppendInt64(int64_t v) { validity_.push_back(1), i64_.push_back(v); }
  // kInt, kDate (days since the epoch).
  void AppendInt32(int32_t v) { validity_.push_back(1), i32_.push_back(v); }
  void AppendDouble(double v) { validity_.push_back(1), f64_.push_back(v); }
  void AppendBool(bool v) { validity_.push_back(1), u8_.push_back(v ? 1 : 0); }
  void AppendDecimal(Int128 unscaled) { validity_.push_back(1), i128_.push_back(unscaled); }
  void AppendString(std::string_view v) {
    validity_.push_back(1);
    offsets_.push_back(bytes_.Append(v));
  }
  // kStruct: after appending one value to every child.
  void AppendStructValid() { validity_.push_back(1); }
  // kArray / kMap: after appending the entries to the child vector(s); the
  // entry count is derived from the children's size.
  void AppendListValid() {
    validity_.push_back(1);
    offsets_.push_back(children_[0]->size());
  }

  // Removes every entry from `rows` on (children included).
  void Truncate(size_t rows);
  void Clear() { Truncate(0); }
  // Room for `rows` entries in all (not in children, nor string payloads), so
  // that appending a known number of rows does not reallocate on the way.
  void Reserve(size_t rows);

  // Readers. Fixed-width arrays hold one slot per row (nulls hold 0).
  const int64_t* int64_data() const { return i64_.data(); }
  const int32_t* int32_data() const { return i32_.data(); }
  const double* double_data() const { return f64_.data(); }
  const uint8_t* bool_data() const { return u8_.data(); }
  const Int128* decimal_data() const { return i128_.data(); }
  std::string_view StringAt(size_t row) const {
    return std::string_view(bytes_.data() + offsets_[row], offsets_[row + 1] - offsets_[row]);
  }
  // kArray / kMap: entries [ListBegin(row), ListEnd(row)) of the child(ren).
  uint64_t ListBegin(size_t row) const { return offsets_[row]; }
  uint64_t ListEnd(size_t row) const { return offsets_[row + 1]; }

  // kStruct: one child per field; kArray: the element; kMap: key then value.
  size_t child_count() const { return children_.size(); }
  ColumnVector* child(size_t i) { return children_[i].get(); }
  const ColumnVector* child(size_t i) const { return children_[i].get(); }

  // Bytes of memory held, for buffer accounting.
  size_t MemoryBytes() const;

 private:
  // String payloads, one after the other: a growable buffer whose append is
  // a capacity check and a copy (no terminator, no zero-filling on growth).
  class Bytes {
   public:
    // Appends v; returns the new size.
    size_t Append(std::string_view v) {
      if (v.size() > capacity_ - size_) Grow(v.size());
      if (!v.empty()) std::memcpy(data_.get() + size_, v.data(), v.size());
      return size_ += v.size();
    }
    const char* data() const { return data_.get(); }
    size_t size() const { return size_; }
    size_t capacity() const { return capacity_; }
    void Truncate(size_t n) { size_ = std::min(size_, n); }

   private:
    void Grow(size_t more);
    std::unique_ptr<char[]> data_;
    size_t size_ = 0;
    size_t capacity_ = 0;
  };

  const DataType* type_;
  std::vector<uint8_t> validity_;
  size_t null_count_ = 0;
  std::vector<int64_t> i64_;
  std::vector<int32_t> i32_;
  std::vector<double> f64_;
  std::vector<uint8_t> u8_;
  std::vector<Int128> i128_;
  Bytes bytes_;                    // kString payloads
  std::vector<uint64_t> offsets_;  // kString: byte offsets, kArray/kMap: child offsets; size+1
  std::vector<std::unique_ptr<ColumnVector>> children_;
};

// The rows of one table: a ColumnVector per schema column, in schema order.
// The schema must outlive the batch.
class ColumnBatch {
 public:
  explicit ColumnBatch(const TableSchema* schema);
  ColumnBatch(ColumnBatch&&) = default;
  ColumnBatch& operator=(ColumnBatch&&) = default;

  const TableSchema& schema() const { return *schema_; }
  size_t rows() const { return rows_; }
  size_t column_count() const { return columns_.size(); }
  ColumnVector* column(size_t i) { return columns_[i].get(); }
  const ColumnVector* column(size_t i) const { return columns_[i].get(); }

  // Called by writers of whole rows once every column got its value.
  void CommitRow() { ++rows_; }
  // Drops rows from `rows` on; also undoes a partly appended row.
  void Truncate(size_t rows);
  // ColumnVector::Reserve on every column.
  void Reserve(size_t rows);
  size_t MemoryBytes() const;

 private:
  const TableSchema* schema_;
  std::vector<std::unique_ptr<ColumnVector>> columns_;
  size_t rows_ = 0;
};

}  // namespace inlet::schema
