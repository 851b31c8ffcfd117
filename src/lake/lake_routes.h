// HTTP API of the lake, for the dashboard and other clients. Every route
// needs a key with the query scope (http::Permission::kQuery).
//   GET  /v1/catalog/databases                   databases and their table counts
//   GET  /v1/catalog/tables[?database=raw]       tables with columns and partition keys
//   GET  /v1/catalog/tables/{db.table}           one table, with its partitions
//   GET  /v1/catalog/tables/{db.table}/history   schema versions: who changed what, when
//   GET  /v1/catalog/ddl?dialect=athena|trino|hive[&location=s3://bucket/lake/]
//   POST /v1/query  {"sql": "...", "max_rows": N}
//        -> {columns:[{name,type}], rows:[[...]], row_count, truncated, bytes_scanned, elapsed_ms}
// Queries run on the service's pool, off the I/O threads; over the
// concurrency limit the answer is 429 with Retry-After. The service and keys
// must outlive the server.
#pragma once

#include "http/api_keys.h"
#include "http/http_server.h"
#include "lake/lake_service.h"

namespace inlet::lake {

void RegisterLakeRoutes(http::HttpServer* server, LakeService* service, const http::ApiKeys* keys);

// JSON of catalog objects (also used by the CLI's --json).
std::string TableJson(const TableInfo& table, const std::vector<PartitionInfo>* partitions);
std::string HistoryJson(const std::vector<SchemaVersion>& history);

}  // namespace inlet::lake
