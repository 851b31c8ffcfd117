// Renderings of a QueryResult: an aligned text table for terminals, CSV
// (RFC 4180), NDJSON (one object per row) and the JSON body of the query
// API. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "lake/query_engine.h"

namespace inlet::lake {

enum class OutputFormat { kTable, kCsv, kJson, kNdjson, kParquet };
Result<OutputFormat> ParseOutputFormat(std::string_view text);

// `max_width`: longest cell shown (longer cells end with "..."); 0 = no limit.
std::string FormatTable(const QueryResult& r, size_t max_width = 60);
std::string FormatCsv(const QueryResult& r);
std::string FormatNdjson(const QueryResult& r);
// {"columns":[{"name":..,"type":..}],"rows":[[..]],"row_count":N,"truncated":b,
//  "bytes_scanned":N,"elapsed_ms":x}
std::string FormatJson(const QueryResult& r);

// One cell as a JSON value.
std::string CellJson(const Cell& c);
// `s` between JSON quotes, escaped.
std::string JsonString(std::string_view s);

}  // namespace inlet::lake
