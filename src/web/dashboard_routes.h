// The web dashboard's HTTP surface: the single-page UI embedded in the
// binary (GET /, /ui/*; web/assets.h) and the saved-dashboards API
//   GET    /v1/dashboards          list (name, title, visuals, updated)
//   GET    /v1/dashboards/{name}   the stored JSON document
//   PUT    /v1/dashboards/{name}   create or replace (200 replaced, 201 created)
//   POST   /v1/dashboards          create from a body with "name" (409 if it exists)
//   DELETE /v1/dashboards/{name}   remove
// The UI is public (it holds no data; the user enters an API key in the page);
// the dashboards API needs a key with the query scope, the same scope that
// running a dashboard's SQL needs. `keys` must outlive the server. Thread-safe.
#pragma once

#include <filesystem>
#include <string_view>

#include "http/api_keys.h"
#include "http/http_server.h"

namespace inlet::web {

void RegisterDashboardRoutes(http::HttpServer* server, const http::ApiKeys* keys,
                             std::filesystem::path dashboards_dir);

// The Content-Type for a served file name ("application/octet-stream" when unknown).
std::string_view ContentTypeFor(std::string_view path);

}  // namespace inlet::web
