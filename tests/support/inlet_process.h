// InletProcess: the real inlet binary started by a test on a free loopback
// port with a configuration the test writes, plus an HTTP client for it.
#pragma once

#include <memory>
#include <string>

#include "http/http_client.h"
#include "support/test_support.h"

namespace inlet::testing {

// The development key of the test configurations.
inline constexpr const char* kTestKey = "test-key-all-scopes";

// A configuration with the server on `port`, data under `data_dir`, an admin
// key kTestKey, and `body` appended (topics, subscriptions, ...).
std::string TestConfig(int port, const std::filesystem::path& data_dir, const std::string& body,
                       const std::string& limits = "");

class InletProcess {
 public:
  // Writes `config` to dir/inlet.yaml and starts `inlet run` on it.
  InletProcess(const std::filesystem::path& dir, const std::string& config, int port);
  ~InletProcess();

  // Waits until /healthz answers (false after `timeout`).
  bool WaitReady(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  void Kill(int signal) { child_->Kill(signal); }
  int Wait() { return child_->Wait(); }
  bool Running() { return child_->Running(); }
  std::string Log() const { return child_->Log(); }
  int port() const { return port_; }
  pid_t pid() const { return child_->pid(); }

  // A request with the test key (unless `headers` has an Authorization).
  Result<http::ClientResponse> Post(const std::string& target, const std::string& body,
                                    std::vector<std::pair<std::string, std::string>> headers = {});
  Result<http::ClientResponse> Get(const std::string& target);

 private:
  std::filesystem::path dir_;
  int port_;
  std::unique_ptr<Child> child_;
  http::HttpClient client_;
};

}  // namespace inlet::testing
