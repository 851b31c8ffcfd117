#include "schema/column_batch.h"

namespace inlet::schema {

ColumnVector::ColumnVector(const DataType* type) : type_(type) {
  switch (type->kind) {
    case TypeKind::kString:
      offsets_.push_back(0);
      break;
    case TypeKind::kStruct:
      for (const Field& f : type->fields)
        children_.push_back(std::make_unique<ColumnVector>(f.type.get()));
      break;
    case TypeKind::kArray:
      offsets_.push_back(0);
      children_.push_back(std::make_unique<ColumnVector>(type->element.get()));
      break;
    case TypeKind::kMap:
      offsets_.push_back(0);
      children_.push_back(std::make_unique<ColumnVector>(type->key.get()));
      children_.push_back(std::make_unique<ColumnVector>(type->value.get()));
      break;
    default:
      break;
  }
}

void ColumnVector::AppendNull() {
  validity_.push_back(0);
  ++null_count_;
  switch (type_->kind) {
    case TypeKind::kBigint:
    case TypeKind::kTimestamp:
      i64_.push_back(0);
      break;
    case TypeKind::kInt:
    case TypeKind::kDate:
      i32_.push_back(0);
      break;
    case TypeKind::kDouble:
      f64_.push_back(0);
      break;
    case TypeKind::kBoolean:
      u8_.push_back(0);
      break;
    case TypeKind::kDecimal:
      i128_.push_back(0);
      break;
    case TypeKind::kString:
      offsets_.push_back(bytes_.size());
      break;
    case TypeKind::kArray:
    case TypeKind::kMap:
      offsets_.push_back(children_[0]->size());
      break;
    case TypeKind::kStruct:
      for (auto& c : children_) c->AppendNull();
      break;
  }
}

void ColumnVector::Truncate(size_t rows) {
  if (rows >= validity_.size()) {
    // A partly appended struct row may have children longer than the parent.
    if (type_->kind == TypeKind::kStruct) {
      for (auto& c : children_) c->Truncate(rows);
    } else if (type_->kind == TypeKind::kArray || type_->kind == TypeKind::kMap) {
      for (auto& c : children_) c->Truncate(offsets_[validity_.size()]);
    }
    return;
  }
  for (size_t i = rows; i < validity_.size(); ++i) null_count_ -= validity_[i] == 0;
  validity_.resize(rows);
  switch (type_->kind) {
    case TypeKind::kBigint:
    case TypeKind::kTimestamp:
      i64_.resize(rows);
      break;
    case TypeKind::kInt:
    case TypeKind::kDate:
      i32_.resize(rows);
      break;
    case TypeKind::kDouble:
      f64_.resize(rows);
      break;
    case TypeKind::kBoolean:
      u8_.resize(rows);
      break;
    case TypeKind::kDecimal:
      i128_.resize(rows);
      break;
    case TypeKind::kString:
      bytes_.Truncate(offsets_[rows]);
      offsets_.resize(rows + 1);
      break;
    case TypeKind::kArray:
    case TypeKind::kMap:
      for (auto& c : children_) c->Truncate(offsets_[rows]);
      offsets_.resize(rows + 1);
      break;
    case TypeKind::kStruct:
      for (auto& c : children_) c->Truncate(rows);
      break;
  }
}

void ColumnVector::Reserve(size_t rows) {
  validity_.reserve(rows);
  switch (type_->kind) {
    case TypeKind::kBigint:
    case TypeKind::kTimestamp:
      i64_.reserve(rows);
      break;
    case TypeKind::kInt:
    case TypeKind::kDate:
      i32_.reserve(rows);
      break;
    case TypeKind::kDouble:
      f64_.reserve(rows);
      break;
    case TypeKind::kBoolean:
      u8_.reserve(rows);
      break;
    case TypeKind::kDecimal:
      i128_.reserve(rows);
      break;
    case TypeKind::kString:
    case TypeKind::kArray:
    case TypeKind::kMap:
      offsets_.reserve(rows + 1);
      break;
    case TypeKind::kStruct:
      for (auto& c : children_) c->Reserve(rows);
      break;
  }
}

void ColumnVector::Bytes::Grow(size_t more) {
  const size_t capacity = std::max({size_ + more, 2 * capacity_, size_t{256}});
  auto data = std::make_unique_for_overwrite<char[]>(capacity);
  if (size_ > 0) std::memcpy(data.get(), data_.get(), size_);
  data_ = std::move(data);
  capacity_ = capacity;
}

size_t ColumnVector::MemoryBytes() const {
  size_t n = validity_.capacity() + i64_.capacity() * 8 + i32_.capacity() * 4 +
             f64_.capacity() * 8 + u8_.capacity() + i128_.capacity() * 16 + bytes_.capacity() +
             offsets_.capacity() * 8;
  for (const auto& c : children_) n += c->MemoryBytes();
  return n;
}

ColumnBatch::ColumnBatch(const TableSchema* schema) : schema_(schema) {
  for (const Column& c : schema->columns)
    columns_.push_back(std::make_unique<ColumnVector>(c.type.get()));
}

void ColumnBatch::Truncate(size_t rows) {
  for (auto& c : columns_) c->Truncate(rows);
  if (rows < rows_) rows_ = rows;
}

void ColumnBatch::Reserve(size_t rows) {
  for (auto& c : columns_) c->Reserve(rows);
}

size_t ColumnBatch::MemoryBytes() const {
  size_t n = 0;
  for (const auto& c : columns_) n += c->MemoryBytes();
  return n;
}

}  // namespace inlet::schema
