// HttpClient: a minimal blocking HTTP/1.1 client over one keep-alive TCP
// connection (plain sockets), for the load generator, the demo simulator and
// tests. Reconnects when the server closed the connection. Not thread-safe:
// one client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace inlet::http {

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  std::string body;
  std::string Header(const std::string& name) const;
};

class HttpClient {
 public:
  HttpClient(std::string host, uint16_t port,
             std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends a request and reads the whole response (Content-Length or chunked).
  Result<ClientResponse> Request(
      const std::string& method, const std::string& target, const std::string& body = "",
      const std::vector<std::pair<std::string, std::string>>& headers = {});
  // Sends raw bytes as they are (for malformed-request tests), then reads a response.
  Result<ClientResponse> Raw(const std::string& bytes);
  void Close();

 private:
  Status Connect();
  Result<ClientResponse> ReadResponse(bool head_request = false);

  std::string host_;
  uint16_t port_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string buf_;
};

}  // namespace inlet::http
