// EventValidator: the validate stage. Converts one raw JSON event into a row
// of a ColumnBatch with schema::RecordConverter (types, required fields) and
// then applies the table's value constraints (numeric ranges, enums, string
// formats, size limits), reporting the first failure with its category and
// JSON path. One validator per worker thread (it owns a converter).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "process/process_config.h"
#include "schema/column_batch.h"
#include "schema/json_converter.h"
#include "schema/table_schema.h"

namespace inlet::process {

struct Rejection {
  ErrorCategory category = ErrorCategory::kMalformedJson;
  std::string path;  // "$.lat", "$" for the whole event
  std::string message;
};

// Format checks, exposed for tests.
bool IsRfc3339(std::string_view s);
bool IsIpAddress(std::string_view s);
// A dotted-quad IPv4 address as inet_pton(AF_INET) reads it (four decimal
// octets of at most 255, no leading zeros, nothing else) into out[4], in
// place (inet_pton needs a NUL-terminated copy); false for anything else.
bool ParseIpv4(std::string_view s, uint8_t out[4]);
bool IsEmailAddress(std::string_view s);
bool IsUuid(std::string_view s);

class EventValidator {
 public:
  // `table` must outlive the validator.
  EventValidator(const schema::TableSchema* table, uint64_t max_event_bytes);

  // On success appends one row to *batch and returns true; otherwise leaves
  // *batch unchanged, fills *rejection and returns false.
  // REQUIRES: batch was built from the same table.
  bool Validate(std::string_view payload, schema::ColumnBatch* batch, Rejection* rejection);

 private:
  bool CheckRow(const schema::ColumnBatch& batch, size_t row, Rejection* rejection) const;

  const schema::TableSchema* table_;
  uint64_t max_event_bytes_;
  schema::RecordConverter converter_;
  std::vector<size_t> constrained_;  // columns with a range, enum, format or length
};

}  // namespace inlet::process
