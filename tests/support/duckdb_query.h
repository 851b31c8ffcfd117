// A tiny DuckDB helper for tests: runs SQL on an in-memory database and
// returns the result as strings, so tests can check the lake with the real
// DuckDB (an independent reader of what inlet wrote).
#pragma once

#include <string>
#include <vector>

namespace inlet::testing {

using Rows = std::vector<std::vector<std::string>>;

// Runs `sql`; on error fails the current test and returns no rows.
Rows DuckQuery(const std::string& sql);

}  // namespace inlet::testing
