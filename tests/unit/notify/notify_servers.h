// Real servers on loopback for the notify tests: the webhook receiver
// (tests/support/webhook_receiver.py, fails its first N requests on purpose)
// and an SMTP server (Debian's python3-aiosmtpd with
// tests/support/smtp_recorder.py), each recording what it receives to a
// folder, plus readers for those records. Used by one test thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.h"

namespace inlet::testing {

inline constexpr const char* kPython = "/usr/bin/python3";

// Waits until `ready` returns true, polling every 20 ms; false on timeout.
template <typename F>
bool WaitUntil(F ready, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ready();
}

inline bool CanConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// Files of `dir` whose names end with `suffix`, sorted.
inline std::vector<std::filesystem::path> RecordFiles(const std::filesystem::path& dir,
                                                      const std::string& suffix) {
  std::vector<std::filesystem::path> out;
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string JsonString(simdjson::dom::element e, const char* key) {
  std::string_view v;
  return e[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

class WebhookReceiver {
 public:
  struct Request {
    int n = 0;
    double time = 0;                             // seconds, monotonic
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    int status = 0;
    int signature_valid = -1;  // -1: not checked
    std::string Header(const std::string& lower_name) const {
      auto it = headers.find(lower_name);
      return it == headers.end() ? "" : it->second;
    }
  };

  WebhookReceiver(const std::filesystem::path& dir, int fail_first, int fail_status = 500,
                  const std::string& secret = "")
      : dir_(dir / "requests") {
    std::filesystem::create_directories(dir);
    const auto port_file = dir / "port";
    std::vector<std::string> argv = {
        kPython,         (SourceDir() / "tests/support/webhook_receiver.py").string(),
        "--dir",         dir_.string(),
        "--port-file",   port_file.string(),
        "--fail-first",  std::to_string(fail_first),
        "--fail-status", std::to_string(fail_status)};
    if (!secret.empty()) {
      argv.push_back("--secret");
      argv.push_back(secret);
    }
    child_ = std::make_unique<Child>(argv, dir / "receiver.log");
    if (WaitUntil([&] { return std::filesystem::exists(port_file); }, std::chrono::seconds(15))) {
      port_ = std::stoi(ReadFile(port_file));
    }
  }
  bool ready() const { return port_ > 0; }
  std::string Log() const { return child_->Log(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }

  std::vector<Request> Requests() const {
    std::vector<Request> out;
    simdjson::dom::parser parser;
    for (const auto& f : RecordFiles(dir_, ".json")) {
      simdjson::dom::element e;
      if (parser.parse(ReadFile(f)).get(e) != simdjson::SUCCESS) continue;
      Request r;
      r.n = static_cast<int>(int64_t(e["n"]));
      r.time = double(e["time"]);
      r.body = JsonString(e, "body");
      r.status = static_cast<int>(int64_t(e["status"]));
      bool valid = false;
      if (e["signature_valid"].get(valid) == simdjson::SUCCESS) r.signature_valid = valid ? 1 : 0;
      for (auto [k, v] : simdjson::dom::object(e["headers"])) {
        std::string key(k);
        std::transform(key.begin(), key.end(), key.begin(), ::tolower);
        r.headers[key] = std::string(std::string_view(v));
      }
      out.push_back(std::move(r));
    }
    return out;
  }
  bool WaitForRequests(size_t n,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    return WaitUntil([&] { return RecordFiles(dir_, ".json").size() >= n; }, timeout);
  }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<Child> child_;
  int port_ = 0;
};

class SmtpServer {
 public:
  struct Mail {
    std::string mail_from;
    std::vector<std::string> rcpt_tos;
    std::string from, to, subject, body;
    std::map<std::string, std::string> headers;
  };

  // Starts aiosmtpd on `port` (a free one when 0).
  explicit SmtpServer(const std::filesystem::path& dir, int port = 0) : dir_(dir / "mail") {
    std::filesystem::create_directories(dir);
    port_ = port ? port : FreePort();
    std::vector<std::string> argv = {
        "/usr/bin/env", "PYTHONPATH=" + (SourceDir() / "tests/support").string(),
        kPython,        "-m",
        "aiosmtpd",     "-n",
        "-l",           "127.0.0.1:" + std::to_string(port_),
        "-c",           "smtp_recorder.Recorder",
        dir_.string()};
    child_ = std::make_unique<Child>(argv, dir / "smtp.log");
    ready_ = WaitUntil([&] { return CanConnect(port_); }, std::chrono::seconds(15));
  }
  bool ready() const { return ready_; }
  int port() const { return port_; }
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }
  std::string Log() const { return child_->Log(); }

  std::vector<Mail> Mails() const {
    std::vector<Mail> out;
    simdjson::dom::parser parser;
    for (const auto& f : RecordFiles(dir_, ".json")) {
      simdjson::dom::element e;
      if (parser.parse(ReadFile(f)).get(e) != simdjson::SUCCESS) continue;
      Mail m;
      m.mail_from = JsonString(e, "mail_from");
      for (auto r : simdjson::dom::array(e["rcpt_tos"]))
        m.rcpt_tos.emplace_back(std::string_view(r));
      m.from = JsonString(e, "from");
      m.to = JsonString(e, "to");
      m.subject = JsonString(e, "subject");
      m.body = JsonString(e, "body");
      for (auto [k, v] : simdjson::dom::object(e["headers"]))
        m.headers[std::string(k)] = std::string(std::string_view(v));
      out.push_back(std::move(m));
    }
    return out;
  }
  bool WaitForMails(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    return WaitUntil([&] { return RecordFiles(dir_, ".json").size() >= n; }, timeout);
  }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<Child> child_;
  int port_ = 0;
  bool ready_ = false;
};

}  // namespace inlet::testing
