#include "http/http_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "common/json_escape.h"
#include "common/thread_name.h"

namespace inlet::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

const std::string kEmpty;
constexpr uint64_t kReadChunk = 256 * 1024;  // most bytes one recv asks for
constexpr uint64_t kIdleBuffer = 16 * 1024;  // buffer kept between requests

std::string UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

const std::string& Request::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? kEmpty : it->second;
}

const std::string& Request::Query(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? kEmpty : it->second;
}

Response ErrorResponse(int status, std::string_view code, std::string_view message) {
  Response r;
  r.status = status;
  r.body = "{\"error\":{\"code\":\"" + JsonEscape(code) + "\",\"message\":\"" +
           JsonEscape(message) + "\"}}";
  return r;
}

// One io_context per server thread, each run by that thread alone: a
// connection lives on one of them, so its handlers never run concurrently
// and need no strand, and its stream uses the io_context's executor type
// directly instead of the type-erased one (both showed at the top of the
// profile of single-event requests).
using IoExecutor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, IoExecutor>;
using Stream = beast::basic_stream<tcp, IoExecutor>;

struct HttpServer::Impl {
  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<asio::executor_work_guard<IoExecutor>> work;
  std::optional<tcp::acceptor> acceptor;
  size_t next_io = 0;  // round robin of new connections (the accept handler runs on ios[0])
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Socket socket, HttpServer* server) : stream_(std::move(socket)), server_(server) {
    server_->open_connections_.fetch_add(1);
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
    stream_.socket().set_option(tcp::no_delay(true), ec);
  }
  ~Connection() { server_->open_connections_.fetch_sub(1); }

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

 private:
  void ReadHeader() {
    head_request_ = false;
    parser_.emplace();
    parser_->header_limit(server_->options_.max_header_bytes);
    parser_->body_limit(server_->options_.max_body_bytes);
    stream_.expires_after(server_->options_.idle_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    auto& req = parser_->get();
    if (parser_->content_length() &&
        *parser_->content_length() > server_->options_.max_body_bytes) {
      keep_alive_ = false;
      return Send(ErrorResponse(413, "request_too_large",
                                "the request body of " +
                                    std::to_string(*parser_->content_length()) +
                                    " bytes exceeds the limit of " +
                                    std::to_string(server_->options_.max_body_bytes) + " bytes"));
    }
    if (beast::iequals(req[bhttp::field::expect], "100-continue")) {
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                       req.version());
      bhttp::async_write(stream_, *cont,
                         [self = shared_from_this(), cont](beast::error_code ec, size_t) {
                           if (ec) return self->Close();
                           self->ReadBody();
                         });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    // Beast reads into the buffer's free capacity, at least 512 bytes: without
    // room for the body, a 160 KiB batch took some 300 recv calls, each with
    // its timer and executor hops. Room for up to kReadChunk bytes per call.
    const uint64_t want =
        std::min<uint64_t>(parser_->content_length().value_or(kReadChunk), kReadChunk);
    if (buffer_.capacity() - buffer_.size() < want) buffer_.reserve(buffer_.size() + want);
    stream_.expires_after(server_->options_.request_timeout);
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRequest(ec); });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
        ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted) {
      return Close();
    }
    keep_alive_ = false;
    if (ec == bhttp::error::body_limit) {
      return Send(ErrorResponse(413, "request_too_large",
                                "the request body exceeds the limit of " +
                                    std::to_string(server_->options_.max_body_bytes) + " bytes"));
    }
    if (ec == bhttp::error::header_limit) {
      Response r = ErrorResponse(431, "headers_too_large", "the request headers are too large");
      return Send(std::move(r));
    }
    return Send(ErrorResponse(400, "bad_http", "malformed HTTP request: " + ec.message()));
  }

  void OnRequest(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    head_request_ = msg.method() == bhttp::verb::head;
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    std::string_view target = req.target;
    size_t q = target.find('?');
    req.path = UrlDecode(target.substr(0, q));
    if (q != std::string_view::npos) {
      std::string_view query = target.substr(q + 1);
      while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view kv = query.substr(0, amp);
        size_t eq = kv.find('=');
        req.query[UrlDecode(kv.substr(0, eq))] =
            eq == std::string_view::npos ? "" : UrlDecode(kv.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
      }
    }
    for (const auto& f : msg) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers[name] = std::string(f.value());
    }
    req.body = std::move(msg.body());
    req.remote = remote_;
    stream_.expires_never();
    auto self = shared_from_this();
    server_->Dispatch(std::move(req), [self](Response r) {
      asio::post(self->stream_.get_executor(),
                 [self, r = std::move(r)]() mutable { self->Send(std::move(r)); });
    });
  }

  // The response is formatted here into one buffer and written with one
  // call: Beast's serializer cost more than the rest of a single-event
  // request's user time.
  void Send(Response r) {
    auto out = std::make_shared<std::string>();
    std::string& s = *out;
    s.reserve(192 + r.body.size());
    s += "HTTP/1.1 ";
    s += std::to_string(r.status);
    s += ' ';
    const beast::string_view reason = bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
    s.append(reason.data(), reason.size());
    s += "\r\nServer: inlet\r\n";
    if (!r.content_type.empty()) AppendHeader("Content-Type", r.content_type, &s);
    for (const auto& [name, value] : r.headers) AppendHeader(name, value, &s);
    // 1xx, 204 and 304 have neither a body nor a length; HEAD gets the length only.
    const bool bodiless = r.status < 200 || r.status == 204 || r.status == 304;
    if (!bodiless) {
      s += "Content-Length: ";
      s += std::to_string(r.body.size());
      s += "\r\n";
    }
    if (!keep_alive_) s += "Connection: close\r\n";
    s += "\r\n";
    if (!bodiless && !head_request_) s += r.body;
    stream_.expires_after(server_->options_.request_timeout);
    asio::async_write(stream_, asio::buffer(s),
                      [self = shared_from_this(), out](beast::error_code ec, size_t) {
                        if (ec || !self->keep_alive_) return self->Close();
                        // An idle keep-alive connection keeps a small buffer only.
                        if (self->buffer_.size() == 0 && self->buffer_.capacity() > kIdleBuffer)
                          self->buffer_.shrink_to_fit();
                        self->ReadHeader();
                      });
  }

  // "Name: value\r\n", without CR or LF inside (no header injection).
  static void AppendHeader(std::string_view name, std::string_view value, std::string* out) {
    auto put = [out](std::string_view text) {
      for (char c : text) {
        if (c != '\r' && c != '\n') out->push_back(c);
      }
    };
    put(name);
    out->append(": ");
    put(value);
    out->append("\r\n");
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  HttpServer* server_;
  std::string remote_;
  bool keep_alive_ = true;
  bool head_request_ = false;  // the response carries the length, not the body
};

HttpServer::HttpServer(ServerOptions options) : options_(std::move(options)), impl_(new Impl) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route(std::string method, std::string pattern, Handler handler) {
  routes_.push_back(RouteEntry{std::move(method), SplitPath(pattern), std::move(handler)});
}

void HttpServer::Dispatch(Request&& req, Responder respond) const {
  const auto segs = SplitPath(req.path);
  bool path_matched = false;
  for (const auto& r : routes_) {
    if (r.segments.size() != segs.size()) {
      // A trailing "{*}" matches the rest of the path.
      if (r.segments.empty() || r.segments.back() != "{*}" || segs.size() < r.segments.size() - 1)
        continue;
    }
    std::map<std::string, std::string> params;
    bool ok = true;
    for (size_t i = 0; i < r.segments.size() && ok; ++i) {
      const std::string& p = r.segments[i];
      if (p == "{*}") {
        std::string rest;
        for (size_t j = i; j < segs.size(); ++j) rest += (j > i ? "/" : "") + segs[j];
        params["*"] = rest;
        break;
      }
      if (i >= segs.size()) {
        ok = false;
      } else if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
        params[p.substr(1, p.size() - 2)] = segs[i];
      } else if (p != segs[i]) {
        ok = false;
      }
    }
    if (!ok) continue;
    path_matched = true;
    if (r.method != req.method && !(r.method == "GET" && req.method == "HEAD")) continue;
    req.params = std::move(params);
    try {
      r.handler(std::move(req), std::move(respond));
    } catch (const std::exception& e) {
      spdlog::error("handler for {} failed: {}", r.method, e.what());
      respond(ErrorResponse(500, "internal", "internal error"));
    }
    return;
  }
  if (path_matched) {
    respond(ErrorResponse(405, "method_not_allowed",
                          "method " + req.method + " is not allowed on " + req.path));
  } else {
    respond(ErrorResponse(404, "not_found", "no such endpoint: " + req.path));
  }
}

Status HttpServer::Start() {
  beast::error_code ec;
  auto address =
      asio::ip::make_address(options_.host == "localhost" ? "127.0.0.1" : options_.host, ec);
  if (ec)
    return Status::InvalidArgument("cannot listen on '" + options_.host + "': " + ec.message());
  tcp::endpoint ep(address, options_.port);
  const int threads = std::max(1, options_.threads);
  for (int i = 0; i < threads; ++i) {
    impl_->ios.push_back(std::make_unique<asio::io_context>(1));
    impl_->work.push_back(asio::make_work_guard(impl_->ios.back()->get_executor()));
  }
  impl_->acceptor.emplace(*impl_->ios.front());
  auto& acc = *impl_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("cannot listen on " + options_.host + ":" +
                               std::to_string(options_.port) + ": " + ec.message());
  }
  bound_port_ = acc.local_endpoint().port();
  accept_ = [this] {
    asio::io_context& io = *impl_->ios[impl_->next_io++ % impl_->ios.size()];
    impl_->acceptor->async_accept(io.get_executor(), [this](beast::error_code ec, Socket socket) {
      if (ec == asio::error::operation_aborted || !impl_->acceptor->is_open()) return;
      if (!ec) {
        if (open_connections_.load() >= options_.max_connections) {
          beast::error_code ignored;
          socket.close(ignored);
        } else {
          std::make_shared<Connection>(std::move(socket), this)->Start();
        }
      }
      accept_();
    });
  };
  accept_();
  for (auto& io : impl_->ios) {
    threads_.emplace_back([io = io.get(), n = threads_.size()] {
      SetThreadName("http-" + std::to_string(n));
      io->run();
    });
  }
  return Status::Ok();
}

void HttpServer::Stop() {
  if (threads_.empty()) return;
  asio::post(*impl_->ios.front(), [this] {
    beast::error_code ec;
    if (impl_->acceptor) impl_->acceptor->close(ec);
  });
  impl_->work.clear();
  for (auto& io : impl_->ios) io->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

}  // namespace inlet::http
