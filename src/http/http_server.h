// HttpServer: the HTTP/1.1 server of inlet (Boost.Beast adapter; no other
// component includes Beast). Keep-alive connections, limits on header and
// body size, a whole-request time limit against slow clients, an idle limit,
// a cap on connections. Handlers answer asynchronously through a Responder
// that may be called from any thread, exactly once. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/json_escape.h"
#include "common/status.h"

namespace inlet::http {

struct Request {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // path and query as sent
  std::string path;                            // decoded path without the query
  std::map<std::string, std::string> query;    // decoded query parameters
  std::map<std::string, std::string> headers;  // lower-case names
  std::map<std::string, std::string> params;   // {name} segments of the matched route
  std::string body;
  std::string remote;  // peer address

  // The header value or "" when absent (name in lower case).
  const std::string& Header(const std::string& name) const;
  const std::string& Query(const std::string& name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// A JSON error body: {"error":{"code":...,"message":...}}.
Response ErrorResponse(int status, std::string_view code, std::string_view message);
// Escapes a string for inclusion between JSON quotes (common/json_escape.h).
using ::inlet::JsonEscape;

using Responder = std::function<void(Response)>;
using Handler = std::function<void(Request&&, Responder)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: pick a free port (see HttpServer::port())
  int threads = 2;
  uint64_t max_body_bytes = 16ull << 20;
  uint32_t max_header_bytes = 64 << 10;
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
  uint32_t max_connections = 10000;
};

class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();  // Stop()

  // Routes: `pattern` is a path whose segments may be {name}, e.g.
  // "/v1/topics/{topic}/events". Register before Start().
  void Route(std::string method, std::string pattern, Handler handler);

  // Binds and starts serving on background threads.
  Status Start();
  // Stops accepting, closes connections, joins the threads.
  void Stop();
  uint16_t port() const { return bound_port_; }

  uint64_t open_connections() const { return open_connections_.load(); }

 private:
  friend class Connection;
  struct Impl;
  struct RouteEntry {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  // Finds the handler for a request, filling req.params; 404/405 otherwise.
  void Dispatch(Request&& req, Responder respond) const;

  ServerOptions options_;
  std::vector<RouteEntry> routes_;
  std::unique_ptr<Impl> impl_;
  std::vector<std::thread> threads_;
  uint16_t bound_port_ = 0;
  std::atomic<uint64_t> open_connections_{0};
  std::function<void()> accept_;  // the accept loop
};

}  // namespace inlet::http
