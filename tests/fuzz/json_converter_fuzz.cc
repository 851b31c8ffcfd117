// libFuzzer target for the JSON -> columns converter that the delivery
// streams and the processor's validation run on every event: any bytes, one
// schema with every type (nested struct, array, map) and unknown fields kept.
// It must never crash, and a row is all-or-nothing: a success adds exactly
// one entry to every column, a failure leaves the batch as it was and names a
// JSON path.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "schema/json_converter.h"

namespace {

using namespace inlet::schema;

TableSchema* MakeSchema() {
  auto* s = new TableSchema;
  s->database = "raw";
  s->name = "fuzz";
  const char* columns[][2] = {{"id", "string"},
                              {"n", "bigint"},
                              {"small", "int"},
                              {"score", "double"},
                              {"ok", "boolean"},
                              {"ts", "timestamp"},
                              {"day", "date"},
                              {"price", "decimal(10,2)"},
                              {"device", "struct<os:string,ver:int,inner:struct<a:bigint>>"},
                              {"tags", "array<string>"},
                              {"attrs", "map<string,bigint>"},
                              {"identifier", "string"}};
  for (const auto& [name, type] : columns) {
    Column c;
    c.name = name;
    c.type = *ParseType(type);
    c.required = std::string_view(name) == "id";
    s->columns.push_back(std::move(c));
  }
  return s;
}

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65536) return 0;
  static TableSchema* schema = MakeSchema();
  static RecordConverter converter(schema, {.keep_unknown_fields = true});
  static ColumnBatch batch(schema);
  static ColumnVector extra(RecordConverter::ExtraType());
  if (batch.rows() > 1000) {
    batch.Truncate(0);
    extra.Clear();
  }
  const size_t rows = batch.rows();
  ConversionError error;
  const bool ok = converter.Convert(std::string_view(reinterpret_cast<const char*>(data), size),
                                    &batch, &extra, &error);
  Check(batch.rows() == rows + (ok ? 1 : 0));
  for (size_t c = 0; c < batch.column_count(); ++c) Check(batch.column(c)->size() == batch.rows());
  if (ok) {
    Check(extra.size() == batch.rows());
  } else {
    Check(extra.size() == rows);
    Check(!error.path.empty() && error.path[0] == '$');
    Check(!error.message.empty());
  }
  return 0;
}
