#include "process/field_mapper.h"

#include <charconv>

namespace inlet::process {

using schema::TypeKind;

Result<std::vector<std::string>> SplitJsonPath(std::string_view path) {
  if (path.starts_with("$")) path.remove_prefix(1);
  if (path.starts_with(".")) path.remove_prefix(1);
  std::vector<std::string> parts;
  while (!path.empty()) {
    size_t dot = path.find('.');
    std::string_view part = path.substr(0, dot);
    if (part.empty() || part.find('[') != std::string_view::npos) {
      return Status::InvalidArgument("JSON path '" + std::string(path) +
                                     "': expected object keys separated by dots ($.device.os)");
    }
    parts.emplace_back(part);
    if (dot == std::string_view::npos) break;
    path.remove_prefix(dot + 1);
    if (path.empty()) return Status::InvalidArgument("JSON path ends with '.'");
  }
  if (parts.empty()) return Status::InvalidArgument("empty JSON path");
  return parts;
}

Result<FieldMapper::Source> FieldMapper::Resolve(const schema::TableSchema& table,
                                                 const std::string& path) {
  auto parts = SplitJsonPath(path);
  if (!parts.ok()) return parts.status();
  Source s;
  const schema::DataType* type = nullptr;
  for (size_t i = 0; i < table.columns.size(); ++i) {
    if (table.columns[i].name == (*parts)[0])
      s.column = static_cast<int>(i), type = table.columns[i].type.get();
  }
  if (s.column < 0) {
    return Status::InvalidArgument("path '" + path + "': table " + table.QualifiedName() +
                                   " has no column '" + (*parts)[0] + "'");
  }
  for (size_t p = 1; p < parts->size(); ++p) {
    if (type->kind != TypeKind::kStruct) {
      return Status::InvalidArgument("path '" + path + "': '" + (*parts)[p - 1] +
                                     "' is not a struct");
    }
    int found = -1;
    for (size_t f = 0; f < type->fields.size(); ++f) {
      if (type->fields[f].name == (*parts)[p]) found = static_cast<int>(f);
    }
    if (found < 0)
      return Status::InvalidArgument("path '" + path + "': no field '" + (*parts)[p] + "'");
    s.children.push_back(found);
    type = type->fields[found].type.get();
  }
  s.kind = type->kind;
  switch (s.kind) {
    case TypeKind::kString:
    case TypeKind::kBigint:
    case TypeKind::kInt:
    case TypeKind::kDouble:
    case TypeKind::kBoolean:
    case TypeKind::kTimestamp:
    case TypeKind::kDate:
      return s;
    default:
      return Status::InvalidArgument("path '" + path + "' is a " + type->ToString() +
                                     "; map its scalar fields instead");
  }
}

Result<std::unique_ptr<FieldMapper>> FieldMapper::Create(const schema::TableSchema& table,
                                                         const std::vector<FieldMapping>& mapping,
                                                         const std::string& time_column) {
  auto m = std::unique_ptr<FieldMapper>(new FieldMapper());
  for (const auto& f : mapping) {
    Slot slot;
    slot.derive = f.derive;
    FlatColumn col{f.column, FlatType::kString};
    if (!f.path.empty()) {
      auto s = Resolve(table, f.path);
      if (!s.ok())
        return Status::InvalidArgument("mapping of '" + f.column + "': " + s.status().message());
      slot.source = *s;
    }
    switch (f.derive) {
      case Derive::kNone:
        switch (slot.source.kind) {
          case TypeKind::kBigint:
          case TypeKind::kInt:
            col.type = FlatType::kBigint;
            break;
          case TypeKind::kDouble:
            col.type = FlatType::kDouble;
            break;
          case TypeKind::kBoolean:
            col.type = FlatType::kBoolean;
            break;
          case TypeKind::kTimestamp:
            col.type = FlatType::kTimestamp;
            break;
          case TypeKind::kDate:
            col.type = FlatType::kDate;
            break;
          default:
            col.type = FlatType::kString;
            break;
        }
        break;
      case Derive::kAge: {
        col.type = FlatType::kBigint;
        if (!f.path.empty() && slot.source.kind != TypeKind::kBigint &&
            slot.source.kind != TypeKind::kInt && slot.source.kind != TypeKind::kDouble) {
          return Status::InvalidArgument("mapping of '" + f.column +
                                         "': an age path must be a number");
        }
        if (!f.birth_date.empty()) {
          auto b = Resolve(table, f.birth_date);
          if (!b.ok())
            return Status::InvalidArgument("mapping of '" + f.column +
                                           "': " + b.status().message());
          if (b->kind != TypeKind::kDate && b->kind != TypeKind::kTimestamp) {
            return Status::InvalidArgument("mapping of '" + f.column +
                                           "': birth_date must be a date or timestamp");
          }
          slot.birth = *b;
        }
        break;
      }
      case Derive::kGender:
        col.type = FlatType::kString;
        break;
    }
    m->columns_.push_back(col);
    m->slots_.push_back(std::move(slot));
  }
  if (!time_column.empty()) {
    m->time_index_ = m->ColumnIndex(time_column);
    if (m->time_index_ >= 0 && m->columns_[m->time_index_].type != FlatType::kTimestamp) {
      return Status::InvalidArgument("time column '" + time_column + "' must map a timestamp");
    }
  }
  return m;
}

int FieldMapper::ColumnIndex(std::string_view name) const {
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

const schema::ColumnVector* FieldMapper::Leaf(const schema::ColumnBatch& batch, const Source& s,
                                              size_t row) {
  if (s.column < 0) return nullptr;
  const schema::ColumnVector* v = batch.column(s.column);
  if (!v->IsValid(row)) return nullptr;
  for (int c : s.children) {
    v = v->child(c);
    if (!v->IsValid(row)) return nullptr;
  }
  return v;
}

namespace {

// Index of `row` in the fixed-width data of a vector: nested struct fields are
// aligned with their parent's rows.
void ReadScalar(const schema::ColumnVector& v, size_t row, FlatType type, Value* out) {
  switch (v.kind()) {
    case TypeKind::kString: {
      if (type == FlatType::kBigint) {  // derived age from a string is not produced
        out->SetNull();
      } else {
        out->SetString(v.StringAt(row));
      }
      return;
    }
    case TypeKind::kBigint:
    case TypeKind::kTimestamp:
      if (type == FlatType::kString)
        out->SetString(std::to_string(v.int64_data()[row]));
      else
        out->SetInt(v.int64_data()[row]);
      return;
    case TypeKind::kInt:
    case TypeKind::kDate:
      if (type == FlatType::kString)
        out->SetString(std::to_string(v.int32_data()[row]));
      else
        out->SetInt(v.int32_data()[row]);
      return;
    case TypeKind::kDouble:
      if (type == FlatType::kBigint)
        out->SetInt(static_cast<int64_t>(v.double_data()[row]));
      else
        out->SetDouble(v.double_data()[row]);
      return;
    case TypeKind::kBoolean:
      if (type == FlatType::kString)
        out->SetString(v.bool_data()[row] ? "true" : "false");
      else
        out->SetInt(v.bool_data()[row]);
      return;
    default:
      out->SetNull();
  }
}

}  // namespace

void FieldMapper::Map(const schema::ColumnBatch& batch, size_t row, FlatRow* out) const {
  out->values.resize(columns_.size());
  // Plain columns first: derived ages need the event time.
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    Value& v = out->values[i];
    if (s.derive != Derive::kNone) continue;
    const schema::ColumnVector* leaf = Leaf(batch, s.source, row);
    if (!leaf) {
      v.SetNull();
      continue;
    }
    ReadScalar(*leaf, row, columns_[i].type, &v);
  }
  int64_t event_time = out->arrival_us;
  if (time_index_ >= 0 && out->values[time_index_].valid) event_time = out->values[time_index_].i;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    Value& v = out->values[i];
    if (s.derive == Derive::kGender) {
      const schema::ColumnVector* leaf = Leaf(batch, s.source, row);
      if (!leaf) {
        v.SetString("unknown");
      } else if (leaf->kind() == TypeKind::kString) {
        v.SetString(NormalizeGender(leaf->StringAt(row)));
      } else {
        Value tmp;
        ReadScalar(*leaf, row, FlatType::kString, &tmp);
        v.SetString(NormalizeGender(tmp.s));
      }
    } else if (s.derive == Derive::kAge) {
      v.SetNull();
      if (const schema::ColumnVector* leaf = Leaf(batch, s.source, row)) {
        ReadScalar(*leaf, row, FlatType::kBigint, &v);
        if (v.valid && v.i < 0) v.SetNull();
      }
      if (!v.valid) {
        if (const schema::ColumnVector* b = Leaf(batch, s.birth, row)) {
          int32_t days = b->int32_data()[row];
          if (b->kind() == TypeKind::kTimestamp) {
            constexpr int64_t kDay = 86'400'000'000LL;
            int64_t t = b->int64_data()[row];
            days = static_cast<int32_t>(t / kDay - (t % kDay < 0 ? 1 : 0));
          }
          if (auto age = AgeAt(days, event_time)) v.SetInt(*age);
        }
      }
    }
  }
}

}  // namespace inlet::process
