// RecordConverter turns one JSON event (the raw payload bytes) into one row
// of typed column values appended to a ColumnBatch, following a TableSchema;
// a record that cannot be converted leaves the batch unchanged and yields a
// ConversionError (code, JSON path such as "$.device.os", message). One
// converter per thread: it owns a simdjson parser and scratch buffers.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "schema/column_batch.h"
#include "schema/table_schema.h"

namespace inlet::schema {

enum class ConversionErrorCode {
  kMalformedJson,   // not parseable JSON
  kNotAnObject,     // the event is not a JSON object
  kMissingField,    // a required column is absent or null
  kTypeMismatch,    // the JSON value cannot represent the column type
  kOutOfRange,      // a number that does not fit the column type
  kInvalidFormat,   // a timestamp, date or decimal string that does not parse
  kDuplicateField,  // the same key twice in one object
};

// Stable snake_case names used in error outputs and metrics: "type_mismatch".
const char* ConversionErrorCodeName(ConversionErrorCode code);

struct ConversionError {
  ConversionErrorCode code = ConversionErrorCode::kMalformedJson;
  std::string path;  // JSONPath of the offending value: "$", "$.a.b", "$.list[3]"
  std::string message;
  std::string ToString() const;  // "type_mismatch at $.a: expected ..."
};

struct ConverterOptions {
  // Top-level fields not in the schema are kept, as one JSON object per row,
  // in the `extra` vector passed to Convert (null when there are none).
  bool keep_unknown_fields = false;
};

// Conversion rules (documented for users in docs/delivery.md):
// - string: JSON strings; numbers and booleans are kept as their JSON text.
// - bigint/int: integers, integral floats (3.0, 1e3) and numeric strings; out_of_range beyond the
// type.
// - double: numbers and numeric strings. boolean: true/false and "true"/"false".
// - timestamp: RFC 3339 strings, or epoch seconds / millis / micros numbers (see time_util.h).
// - date: "YYYY-MM-DD", an RFC 3339 timestamp (its UTC date), or days since the epoch.
// - decimal(p,s): numbers or numeric strings, rounded half away from zero to s digits.
// - struct: objects (unknown nested keys ignored); array: arrays; map: objects.
// - null or absent: a null value, or missing_field for a required column.
//
// Where validation plugs in: the processor's range / enum / format / length
// checks run on the same schema after a top-level column value is appended
// (ConvertColumn in json_converter.cc) and report through ConversionError with
// their own codes; this converter only checks what the types require.
class RecordConverter {
 public:
  // `schema` must outlive the converter.
  RecordConverter(const TableSchema* schema, ConverterOptions options = {});
  RecordConverter(const RecordConverter&) = delete;
  RecordConverter& operator=(const RecordConverter&) = delete;

  // Appends one row to *batch (and one value to *extra when keep_unknown_fields
  // is set and extra is non-null; extra must be a string vector). On failure
  // returns false, fills *error and leaves *batch and *extra unchanged.
  // REQUIRES: batch was built from the same schema.
  bool Convert(std::string_view json, ColumnBatch* batch, ColumnVector* extra,
               ConversionError* error);

  // The type of the `extra` vector.
  static const DataType* ExtraType();

  struct Node {
    const DataType* type = nullptr;
    std::vector<std::string> names;  // kStruct field names / top-level column names
    std::vector<Node> children;      // kStruct fields, kArray element, kMap key + value
    std::vector<bool> required;      // top level only
    // Per name, for FindRaw: its first 16 bytes followed by the closing
    // quote (when it has at most 15 bytes) as two little-endian words and the
    // masks of those bytes, so that most keys compare in two loads.
    struct RawName {
      uint64_t head[2] = {0, 0};
      uint64_t mask[2] = {0, 0};
      uint32_t size = 0;
      bool plain = false;  // no quote or backslash in the name
    };
    std::vector<RawName> raw;
    void AddName(std::string name);
    // The index of `key` in names, trying `hint` first; -1 if absent.
    int Find(std::string_view key, int hint) const;
    // The same for a key as written in the JSON (`raw`: the bytes after its
    // opening quote; `end`: the end of the document), with no unescaping and
    // no scan for the key's end; -1 for an unknown key or one written with
    // escapes (then Find on the unescaped key decides). REQUIRES: 16 bytes
    // readable at `key` (simdjson's padding). Inline for the usual case, the
    // hint's name of up to 15 bytes (keys come in schema order); else a scan.
    int FindRaw(const char* key, const char* end, int hint) const {
      if (static_cast<size_t>(hint) < raw.size()) {
        const RawName& r = raw[hint];
        uint64_t word[2];
        std::memcpy(word, key, sizeof word);
        if ((((word[0] & r.mask[0]) ^ r.head[0]) | ((word[1] & r.mask[1]) ^ r.head[1])) == 0 &&
            r.size < sizeof word && r.plain && static_cast<size_t>(end - key) > r.size) {
          return hint;
        }
      }
      return ScanRaw(key, end, hint);
    }
    int ScanRaw(const char* key, const char* end, int hint) const;
  };

 private:
  bool ConvertValue(const Node& node, simdjson::ondemand::value& value, ColumnVector* out);
  bool ConvertObject(const Node& node, simdjson::ondemand::object object, ColumnVector* out);
  bool ConvertMapKey(const Node& node, std::string_view key, ColumnVector* out);
  bool ConvertScalarText(const Node& node, std::string_view text, bool quoted, ColumnVector* out);
  bool Fail(ConversionErrorCode code, std::string message);
  void FinishPath();

  const TableSchema* schema_;
  ConverterOptions options_;
  Node root_;
  simdjson::ondemand::parser parser_;
  std::string padded_;
  const char* doc_end_ = nullptr;  // end of the JSON in padded_
  std::string extra_;
  std::vector<std::string> reverse_path_;
  ConversionError* error_ = nullptr;
};

}  // namespace inlet::schema
