// The libcurl adapter of notify: an HTTP POST client for webhooks and an SMTP
// client for email. No other file includes curl.h. Each client owns one curl
// handle (connections are reused between calls); use one client per thread.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "notify/notify_config.h"

namespace inlet::notify {

struct HttpReply {
  long status = 0;
  std::string body;  // the first bytes of the response body, for messages
};

class HttpPoster {
 public:
  HttpPoster();
  ~HttpPoster();
  HttpPoster(const HttpPoster&) = delete;
  HttpPoster& operator=(const HttpPoster&) = delete;

  // POSTs `body`. Any HTTP reply is a value (check status); a transport
  // failure (refused, timeout, TLS) is kUnavailable or kTimeout.
  Result<HttpReply> Post(const std::string& url, const std::string& body,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         Millis timeout, Millis connect_timeout);

 private:
  void* curl_;
};

struct SmtpOptions {
  std::string url;  // smtp://host:port or smtps://host:port
  bool starttls = false;
  bool insecure_skip_verify = false;
  std::string username;  // "" for none
  std::string password;
  Millis timeout{30000};
};

class SmtpClient {
 public:
  explicit SmtpClient(SmtpOptions options);
  ~SmtpClient();
  SmtpClient(const SmtpClient&) = delete;
  SmtpClient& operator=(const SmtpClient&) = delete;

  // Sends one message (RFC 5322 text with CRLF line ends) from `from` to
  // every address of `to`. kUnavailable (or kTimeout) with the server's
  // reason on failure.
  Status Send(const std::string& from, const std::vector<std::string>& to,
              const std::string& message);

 private:
  SmtpOptions options_;
  void* curl_;
};

}  // namespace inlet::notify
