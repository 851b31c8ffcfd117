#include "http/http_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace inlet::http {

std::string ClientResponse::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

HttpClient::HttpClient(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : host_(std::move(host)), port_(port), timeout_(timeout) {}

HttpClient::~HttpClient() { Close(); }

void HttpClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_.clear();
}

Status HttpClient::Connect() {
  Close();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host_.c_str(), std::to_string(port_).c_str(), &hints, &res) != 0 ||
      res == nullptr) {
    return Status::Unavailable("cannot resolve " + host_);
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = fd < 0 ? -1 : ::connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0) {
    Status st = Status::FromErrno(errno, "connect to " + host_ + ":" + std::to_string(port_));
    if (fd >= 0) ::close(fd);
    return Status(StatusCode::kUnavailable, st.message());
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fd_ = fd;
  return Status::Ok();
}

Result<ClientResponse> HttpClient::Request(
    const std::string& method, const std::string& target, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + host_ + "\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT")
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n";
  req += body;
  // One retry on a connection the server closed while idle.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool fresh = fd_ < 0;
    if (fresh) INLET_RETURN_IF_ERROR(Connect());
    auto r = Raw(req);
    if (r.ok() || fresh) return r;
    Close();
  }
  return Status::Unavailable("request failed");
}

Result<ClientResponse> HttpClient::Raw(const std::string& bytes) {
  if (fd_ < 0) INLET_RETURN_IF_ERROR(Connect());
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  if (sent < bytes.size()) {
    // The server may have answered early (413) and closed: read that answer.
    if (errno == EPIPE || errno == ECONNRESET) {
      auto early = ReadResponse();
      if (early.ok()) return early;
    }
    Status st = Status::FromErrno(errno, "send");
    Close();
    return Status(StatusCode::kUnavailable, st.message());
  }
  return ReadResponse(bytes.rfind("HEAD ", 0) == 0);
}

Result<ClientResponse> HttpClient::ReadResponse(bool head_request) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  auto fill = [&]() -> Status {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return Status(StatusCode::kTimeout, "response timed out");
      pollfd p{fd_, POLLIN, 0};
      int pr = ::poll(&p, 1, static_cast<int>(left.count()));
      if (pr < 0 && errno == EINTR) continue;
      if (pr <= 0) return Status(StatusCode::kTimeout, "response timed out");
      char tmp[65536];
      ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Status::Unavailable("connection closed by the server");
      buf_.append(tmp, static_cast<size_t>(n));
      return Status::Ok();
    }
  };
  size_t header_end;
  while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos) {
    Status st = fill();
    if (!st.ok()) {
      Close();
      return st;
    }
  }
  ClientResponse resp;
  std::string head = buf_.substr(0, header_end);
  buf_.erase(0, header_end + 4);
  size_t line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  if (status_line.size() < 12 || status_line.compare(0, 5, "HTTP/") != 0) {
    Close();
    return Status::Corruption("bad status line: " + status_line);
  }
  resp.status = std::atoi(status_line.c_str() + 9);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  bool chunked = false, close = false;
  int64_t length = -1;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) e = head.size();
    std::string line = head.substr(pos, e - pos);
    pos = e + 2;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (name == "content-length") length = std::atoll(value.c_str());
    if (name == "transfer-encoding" && value.find("chunked") != std::string::npos) chunked = true;
    if (name == "connection" && value.find("close") != std::string::npos) close = true;
    resp.headers.emplace_back(name, value);
  }
  if (resp.status == 100) return ReadResponse(head_request);
  // No body after 1xx, 204, 304 or a HEAD request, whatever the headers say.
  if (head_request || resp.status < 200 || resp.status == 204 || resp.status == 304) {
    if (close) Close();
    return resp;
  }
  if (chunked) {
    for (;;) {
      size_t e;
      while ((e = buf_.find("\r\n")) == std::string::npos) INLET_RETURN_IF_ERROR(fill());
      size_t n = std::stoul(buf_.substr(0, e), nullptr, 16);
      while (buf_.size() < e + 2 + n + 2) INLET_RETURN_IF_ERROR(fill());
      resp.body.append(buf_, e + 2, n);
      buf_.erase(0, e + 2 + n + 2);
      if (n == 0) break;
    }
  } else if (length >= 0) {
    while (buf_.size() < static_cast<size_t>(length)) {
      Status st = fill();
      if (!st.ok()) {
        Close();
        return st;
      }
    }
    resp.body = buf_.substr(0, static_cast<size_t>(length));
    buf_.erase(0, static_cast<size_t>(length));
  } else {
    while (fill().ok()) {
    }
    resp.body = std::move(buf_);
    buf_.clear();
    close = true;
  }
  if (close) Close();
  return resp;
}

}  // namespace inlet::http
