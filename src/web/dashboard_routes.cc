#include "web/dashboard_routes.h"

#include <simdjson.h>
#include <zlib.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "web/assets.h"
#include "web/dashboard_store.h"

namespace inlet::web {

using http::ErrorResponse;
using http::JsonEscape;
using http::Request;
using http::Responder;
using http::Response;

namespace {

// What the page may load: only inlet itself. ECharts writes inline styles
// (tooltips), hence 'unsafe-inline' for styles only.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: "
    "blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors "
    "'none'; "
    "form-action 'self'";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool Compressible(std::string_view path) {
  return EndsWith(path, ".html") || EndsWith(path, ".js") || EndsWith(path, ".css") ||
         EndsWith(path, ".svg") || EndsWith(path, ".json");
}

// gzip (RFC 1952) of `data`; "" when zlib fails (then the file goes uncompressed).
std::string Gzip(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) return "";
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END ? out : "";
}

// One served file; its gzip form is made on first request.
struct ServedAsset {
  const EmbeddedAsset* asset;
  std::string cache_control;
  std::once_flag gzip_once;
  std::string gzip;
  const std::string& Gzipped() {
    std::call_once(gzip_once, [this] { gzip = Gzip(asset->data); });
    return gzip;
  }
};

bool AcceptsGzip(const Request& req) {
  const std::string& ae = req.Header("accept-encoding");
  return ae.find("gzip") != std::string::npos;
}

// True when an If-None-Match header lists `etag` (or is "*").
bool NotModified(const Request& req, std::string_view etag) {
  const std::string& inm = req.Header("if-none-match");
  if (inm.empty()) return false;
  if (inm == "*") return true;
  // Weak comparison: a proxy may have turned the validator into W/"...".
  return inm.find(etag) != std::string::npos;
}

void ServeAsset(ServedAsset* a, const Request& req, Responder respond) {
  Response r;
  r.headers.emplace_back("ETag", std::string(a->asset->etag));
  r.headers.emplace_back("Cache-Control", a->cache_control);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  const bool compressible = Compressible(a->asset->path);
  if (compressible) r.headers.emplace_back("Vary", "Accept-Encoding");
  if (EndsWith(a->asset->path, ".html")) {
    r.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
  }
  if (NotModified(req, a->asset->etag)) {
    r.status = 304;
    r.content_type.clear();
    return respond(std::move(r));
  }
  r.content_type = std::string(ContentTypeFor(a->asset->path));
  if (compressible && AcceptsGzip(req) && !a->Gzipped().empty()) {
    r.headers.emplace_back("Content-Encoding", "gzip");
    r.body = a->Gzipped();
  } else {
    r.body = std::string(a->asset->data);
  }
  respond(std::move(r));
}

Response StatusToResponse(const Status& st) {
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
      return ErrorResponse(400, "invalid_dashboard", st.message());
    case StatusCode::kNotFound:
      return ErrorResponse(404, "dashboard_not_found", st.message());
    case StatusCode::kAlreadyExists:
      return ErrorResponse(409, "dashboard_exists", st.message());
    case StatusCode::kTooLarge:
      return ErrorResponse(413, "dashboard_too_large", st.message());
    case StatusCode::kResourceExhausted:
      return ErrorResponse(429, "too_many_dashboards", st.message());
    case StatusCode::kNoSpace:
      return ErrorResponse(507, "no_space", st.message());
    default:
      return ErrorResponse(500, "storage_error", st.message());
  }
}

Response SavedResponse(std::string_view name, bool created) {
  Response r;
  r.status = created ? 201 : 200;
  r.headers.emplace_back("Location", "/v1/dashboards/" + std::string(name));
  r.body =
      "{\"name\":\"" + JsonEscape(name) + "\",\"created\":" + (created ? "true" : "false") + "}";
  return r;
}

void RegisterDashboardApi(http::HttpServer* server, const http::ApiKeys* keys,
                          std::shared_ptr<DashboardStore> store) {
  // Runs `fn` when the request carries a key with the query scope.
  auto guarded = [keys](auto fn) {
    return [keys, fn](Request&& req, Responder respond) {
      std::string key_id;
      Response denied;
      if (!keys->Authorize(req, http::Permission::kQuery, "", &key_id, &denied))
        return respond(std::move(denied));
      fn(req, std::move(respond));
    };
  };

  server->Route("GET", "/v1/dashboards", guarded([store](const Request&, Responder respond) {
                  auto list = store->List();
                  if (!list.ok()) return respond(StatusToResponse(list.status()));
                  std::string body = "{\"dashboards\":[";
                  for (size_t i = 0; i < list->size(); ++i) {
                    const auto& d = (*list)[i];
                    if (i) body += ",";
                    body += "{\"name\":\"" + JsonEscape(d.name) + "\",\"title\":\"" +
                            JsonEscape(d.title) + "\",\"visuals\":" + std::to_string(d.visuals) +
                            ",\"updated_ms\":" + std::to_string(d.updated_ms) +
                            ",\"bytes\":" + std::to_string(d.bytes) + "}";
                  }
                  body += "]}";
                  Response r;
                  r.headers.emplace_back("Cache-Control", "no-store");
                  r.body = std::move(body);
                  respond(std::move(r));
                }));
  server->Route("GET", "/v1/dashboards/{name}",
                guarded([store](const Request& req, Responder respond) {
                  auto doc = store->Get(req.params.at("name"));
                  if (!doc.ok()) return respond(StatusToResponse(doc.status()));
                  Response r;
                  r.headers.emplace_back("Cache-Control", "no-store");
                  r.body = std::move(doc).value();
                  respond(std::move(r));
                }));
  server->Route("PUT", "/v1/dashboards/{name}",
                guarded([store](const Request& req, Responder respond) {
                  const std::string& name = req.params.at("name");
                  bool created = false;
                  Status st = store->Put(name, req.body, /*must_be_new=*/false, &created);
                  if (!st.ok()) return respond(StatusToResponse(st));
                  respond(SavedResponse(name, created));
                }));
  server->Route("POST", "/v1/dashboards", guarded([store](const Request& req, Responder respond) {
                  // The name comes from the document itself.
                  simdjson::dom::parser parser;
                  simdjson::padded_string padded(req.body);
                  simdjson::dom::element root;
                  std::string_view name;
                  if (parser.parse(padded).get(root) != simdjson::SUCCESS ||
                      root["name"].get_string().get(name) != simdjson::SUCCESS) {
                    return respond(ErrorResponse(
                        400, "invalid_dashboard",
                        "POST /v1/dashboards takes a JSON object with a \"name\" string"));
                  }
                  const std::string n(name);
                  bool created = false;
                  Status st = store->Put(n, req.body, /*must_be_new=*/true, &created);
                  if (!st.ok()) return respond(StatusToResponse(st));
                  respond(SavedResponse(n, created));
                }));
  server->Route("DELETE", "/v1/dashboards/{name}",
                guarded([store](const Request& req, Responder respond) {
                  const std::string& name = req.params.at("name");
                  Status st = store->Delete(name);
                  if (!st.ok()) return respond(StatusToResponse(st));
                  Response r;
                  r.body = "{\"name\":\"" + JsonEscape(name) + "\",\"deleted\":true}";
                  respond(std::move(r));
                }));
}

void RegisterUi(http::HttpServer* server) {
  // Built once; the map and its entries live as long as the routes.
  auto served =
      std::make_shared<std::map<std::string, std::unique_ptr<ServedAsset>, std::less<>>>();
  for (const EmbeddedAsset& a : EmbeddedAssets()) {
    if (a.path.empty()) continue;
    auto s = std::make_unique<ServedAsset>();
    s->asset = &a;
    // Pages and app modules are revalidated on every load (cheap 304s), so
    // a new binary is picked up at once; the vendor bundle changes rarely.
    s->cache_control = a.path.starts_with("vendor/") ? "public, max-age=86400" : "no-cache";
    served->emplace(std::string(a.path), std::move(s));
  }
  auto index = [served](const Request& req, Responder respond) {
    auto it = served->find("index.html");
    if (it == served->end())
      return respond(ErrorResponse(404, "not_found", "the dashboard is not in this build"));
    ServeAsset(it->second.get(), req, std::move(respond));
  };
  server->Route("GET", "/",
                [index](Request&& req, Responder respond) { index(req, std::move(respond)); });
  server->Route("GET", "/ui",
                [index](Request&& req, Responder respond) { index(req, std::move(respond)); });
  server->Route("GET", "/favicon.ico", [served](Request&& req, Responder respond) {
    auto it = served->find("img/icon.svg");
    if (it == served->end()) return respond(ErrorResponse(404, "not_found", "no icon"));
    ServeAsset(it->second.get(), req, std::move(respond));
  });
  server->Route("GET", "/ui/{*}", [served, index](Request&& req, Responder respond) {
    const std::string& rest = req.params["*"];
    if (rest.empty()) return index(req, std::move(respond));
    auto it = served->find(rest);
    if (it == served->end())
      return respond(ErrorResponse(404, "not_found", "no such dashboard file: /ui/" + rest));
    ServeAsset(it->second.get(), req, std::move(respond));
  });
}

}  // namespace

std::string_view ContentTypeFor(std::string_view path) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& [ext, type] : kTypes) {
    if (EndsWith(path, ext)) return type;
  }
  return "application/octet-stream";
}

void RegisterDashboardRoutes(http::HttpServer* server, const http::ApiKeys* keys,
                             std::filesystem::path dashboards_dir) {
  RegisterUi(server);
  RegisterDashboardApi(server, keys, std::make_shared<DashboardStore>(std::move(dashboards_dir)));
}

}  // namespace inlet::web
