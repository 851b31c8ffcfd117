// DDL export: CREATE statements for Athena, Trino (Hive connector) and Hive
// over the same lake layout the catalog describes (columns, partitions,
// Parquet, location as s3:// or file://), so other engines can query it.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "lake/catalog.h"

namespace inlet::lake {

enum class DdlDialect { kAthena, kTrino, kHive };

Result<DdlDialect> ParseDdlDialect(std::string_view text);

// Statements for `tables`, each location being `location_root` + the
// table's location ("file:///srv/lake/", "s3://bucket/lake/"; a trailing '/'
// is added when missing). Deprecated columns are left out.
std::string ExportDdl(const std::vector<TableInfo>& tables, DdlDialect dialect,
                      std::string location_root);

// A Glue type in Trino's spelling: "struct<a:int>" -> "row(a integer)".
std::string TrinoType(std::string_view glue_type);

}  // namespace inlet::lake
