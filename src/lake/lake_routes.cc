#include "lake/lake_routes.h"

#include <simdjson.h>

#include "lake/ddl_export.h"
#include "lake/result_format.h"

namespace inlet::lake {
namespace {

constexpr size_t kMaxSqlBytes = 1 << 20;

std::string ColumnsJson(const std::vector<ColumnInfo>& cols) {
  std::string out = "[";
  for (size_t i = 0; i < cols.size(); ++i) {
    const auto& c = cols[i];
    out += (i ? "," : "") + std::string("{\"name\":") + JsonString(c.name) +
           ",\"type\":" + JsonString(c.type) + ",\"required\":" + (c.required ? "true" : "false") +
           ",\"deprecated\":" + (c.deprecated ? "true" : "false");
    if (!c.description.empty()) out += ",\"description\":" + JsonString(c.description);
    out += "}";
  }
  return out + "]";
}

http::Response Json(std::string body, int status = 200) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

http::Response FromStatus(const Status& st, const QueryConfig& cfg) {
  http::Response r = http::ErrorResponse(HttpStatusOf(st), ErrorCodeOf(st), st.message());
  if (st.code() == StatusCode::kResourceExhausted) {
    r.headers.emplace_back("Retry-After", std::to_string(cfg.retry_after.count()));
  }
  return r;
}

}  // namespace

std::string TableJson(const TableInfo& t, const std::vector<PartitionInfo>* partitions) {
  std::string out =
      "{\"database\":" + JsonString(t.database) + ",\"name\":" + JsonString(t.name) +
      ",\"location\":" + JsonString(t.location) + ",\"format\":" + JsonString(t.format) +
      ",\"compression\":" + JsonString(t.compression) +
      ",\"description\":" + JsonString(t.description) + ",\"source\":" + JsonString(t.source) +
      ",\"deprecated\":" + (t.deprecated ? "true" : "false") +
      ",\"schema_version\":" + std::to_string(t.schema_version) +
      ",\"updated_at\":" + JsonString(t.updated_at) + ",\"columns\":" + ColumnsJson(t.columns) +
      ",\"partition_keys\":" + ColumnsJson(t.partition_keys);
  if (partitions) {
    out += ",\"partitions\":[";
    for (size_t i = 0; i < partitions->size(); ++i) {
      const auto& p = (*partitions)[i];
      out += (i ? "," : "") + std::string("{\"path\":") + JsonString(p.path) + ",\"values\":[";
      for (size_t v = 0; v < p.values.size(); ++v) out += (v ? "," : "") + JsonString(p.values[v]);
      out += "],\"files\":" + std::to_string(p.files) + ",\"bytes\":" + std::to_string(p.bytes) +
             ",\"rows\":" + std::to_string(p.rows) +
             ",\"deprecated\":" + (p.deprecated ? "true" : "false") + "}";
    }
    out += "]";
  }
  return out + "}";
}

std::string HistoryJson(const std::vector<SchemaVersion>& history) {
  std::string out = "[";
  for (size_t i = 0; i < history.size(); ++i) {
    const auto& h = history[i];
    out += (i ? "," : "") + std::string("{\"version\":") + std::to_string(h.version) +
           ",\"changed_at\":" + JsonString(h.changed_at) +
           ",\"changed_by\":" + JsonString(h.changed_by) + ",\"change\":" + JsonString(h.change) +
           ",\"columns\":" + ColumnsJson(h.columns) +
           ",\"partition_keys\":" + ColumnsJson(h.partition_keys) + "}";
  }
  return out + "]";
}

void RegisterLakeRoutes(http::HttpServer* server, LakeService* service, const http::ApiKeys* keys) {
  // Wraps a handler with the query-scope check.
  auto authorized = [keys](auto fn) {
    return [keys, fn](http::Request&& req, http::Responder respond) {
      std::string key_id;
      http::Response denied;
      if (!keys->Authorize(req, http::Permission::kQuery, "", &key_id, &denied))
        return respond(std::move(denied));
      fn(std::move(req), std::move(respond));
    };
  };
  const QueryConfig& qcfg = service->config().query;

  server->Route("GET", "/v1/catalog/databases",
                authorized([service, &qcfg](http::Request&&, http::Responder respond) {
                  auto dbs = service->catalog()->ListDatabases();
                  if (!dbs.ok()) return respond(FromStatus(dbs.status(), qcfg));
                  std::string out = "{\"databases\":[";
                  for (size_t i = 0; i < dbs->size(); ++i) {
                    const auto& d = (*dbs)[i];
                    out += (i ? "," : "") + std::string("{\"name\":") + JsonString(d.name) +
                           ",\"description\":" + JsonString(d.description) +
                           ",\"tables\":" + std::to_string(d.tables) + "}";
                  }
                  respond(Json(out + "]}"));
                }));

  server->Route("GET", "/v1/catalog/tables",
                authorized([service, &qcfg](http::Request&& req, http::Responder respond) {
                  auto tables = service->catalog()->ListTables(req.Query("database"));
                  if (!tables.ok()) return respond(FromStatus(tables.status(), qcfg));
                  std::string out = "{\"tables\":[";
                  for (size_t i = 0; i < tables->size(); ++i)
                    out += (i ? "," : "") + TableJson((*tables)[i], nullptr);
                  respond(Json(out + "]}"));
                }));

  auto find = [](const http::Request& req) -> Result<std::pair<std::string, std::string>> {
    auto it = req.params.find("table");
    return SplitQualifiedName(it == req.params.end() ? "" : it->second);
  };
  server->Route("GET", "/v1/catalog/tables/{table}",
                authorized([service, find, &qcfg](http::Request&& req, http::Responder respond) {
                  auto qn = find(req);
                  if (!qn.ok()) return respond(FromStatus(qn.status(), qcfg));
                  auto t = service->catalog()->GetTable(qn->first, qn->second);
                  if (!t.ok()) return respond(FromStatus(t.status(), qcfg));
                  auto parts = service->catalog()->Partitions(qn->first, qn->second);
                  if (!parts.ok()) return respond(FromStatus(parts.status(), qcfg));
                  respond(Json(TableJson(t.value(), &parts.value())));
                }));

  server->Route("GET", "/v1/catalog/tables/{table}/history",
                authorized([service, find, &qcfg](http::Request&& req, http::Responder respond) {
                  auto qn = find(req);
                  if (!qn.ok()) return respond(FromStatus(qn.status(), qcfg));
                  auto h = service->catalog()->History(qn->first, qn->second);
                  if (!h.ok()) return respond(FromStatus(h.status(), qcfg));
                  respond(Json("{\"history\":" + HistoryJson(h.value()) + "}"));
                }));

  server->Route("GET", "/v1/catalog/ddl",
                authorized([service, &qcfg](http::Request&& req, http::Responder respond) {
                  std::string d = req.Query("dialect").empty() ? "athena" : req.Query("dialect");
                  auto dialect = ParseDdlDialect(d);
                  if (!dialect.ok()) return respond(FromStatus(dialect.status(), qcfg));
                  auto tables = service->catalog()->ListTables();
                  if (!tables.ok()) return respond(FromStatus(tables.status(), qcfg));
                  std::string root = req.Query("location");
                  if (root.empty())
                    root =
                        "file://" +
                        std::filesystem::absolute(service->lake_dir()).lexically_normal().string();
                  http::Response r;
                  r.content_type = "text/plain; charset=utf-8";
                  r.body = ExportDdl(tables.value(), dialect.value(), root);
                  respond(std::move(r));
                }));

  server->Route(
      "POST", "/v1/query",
      authorized([service, &qcfg](http::Request&& req, http::Responder respond) {
        if (req.body.size() > kMaxSqlBytes + 1024) {
          return respond(http::ErrorResponse(413, "too_large", "a query request is at most 1 MiB"));
        }
        std::string sql;
        uint64_t max_rows = 0;
        {
          simdjson::ondemand::parser parser;
          simdjson::padded_string body(req.body);
          simdjson::ondemand::document doc;
          simdjson::ondemand::object obj;
          if (parser.iterate(body).get(doc) || doc.get_object().get(obj)) {
            return respond(http::ErrorResponse(
                400, "invalid_request",
                "send a JSON object {\"sql\": \"SELECT ...\", \"max_rows\": N}"));
          }
          for (auto field : obj) {
            std::string_view key;
            if (field.unescaped_key().get(key)) {
              return respond(http::ErrorResponse(400, "invalid_request", "malformed JSON body"));
            }
            if (key == "sql") {
              std::string_view v;
              if (field.value().get_string().get(v)) {
                return respond(
                    http::ErrorResponse(400, "invalid_request", "\"sql\" must be a string"));
              }
              sql = v;
            } else if (key == "max_rows") {
              uint64_t v = 0;
              if (field.value().get_uint64().get(v)) {
                return respond(http::ErrorResponse(400, "invalid_request",
                                                   "\"max_rows\" must be a whole number >= 0"));
              }
              max_rows = v;
            } else {
              return respond(http::ErrorResponse(
                  400, "invalid_request",
                  "unknown field \"" + std::string(key) + "\" (allowed: sql, max_rows)"));
            }
          }
        }
        if (sql.empty())
          return respond(http::ErrorResponse(400, "invalid_request", "\"sql\" is required"));
        QueryEngine* engine = service->engine();
        if (engine->running() >= qcfg.max_concurrent) {
          return respond(
              FromStatus(Status::ResourceExhausted(
                             std::to_string(qcfg.max_concurrent) +
                             " queries are already running (query.max_concurrent); retry later"),
                         qcfg));
        }
        auto shared = std::make_shared<http::Responder>(std::move(respond));
        bool queued = service->query_pool()->Submit([engine, sql, max_rows, shared, &qcfg] {
          auto result = engine->Query(sql, max_rows);
          if (!result.ok()) return (*shared)(FromStatus(result.status(), qcfg));
          (*shared)(Json(FormatJson(result.value())));
        });
        if (!queued) {
          (*shared)(
              FromStatus(Status::ResourceExhausted("the query queue is full; retry later"), qcfg));
        }
      }));
}

}  // namespace inlet::lake
