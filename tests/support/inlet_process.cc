#include "support/inlet_process.h"

#include <csignal>
#include <thread>

#include "http/api_keys.h"

namespace inlet::testing {

std::string TestConfig(int port, const std::filesystem::path& data_dir, const std::string& body,
                       const std::string& limits) {
  return "server:\n  listen: 127.0.0.1:" + std::to_string(port) + "\n" +
         "storage:\n  data_dir: " + data_dir.string() + "\n" +
         (limits.empty() ? "" : "limits:\n" + limits) +
         "api_keys:\n  test:\n    sha256: " + http::Sha256Hex(kTestKey) +
         "\n    scopes: [admin]\n" + body;
}

InletProcess::InletProcess(const std::filesystem::path& dir, const std::string& config, int port)
    : dir_(dir),
      port_(port),
      client_("127.0.0.1", static_cast<uint16_t>(port), std::chrono::seconds(60)) {
  WriteFile(dir / "inlet.yaml", config);
  child_ = std::make_unique<Child>(
      std::vector<std::string>{InletBinary().string(), "run", (dir / "inlet.yaml").string()},
      dir / "inlet.log");
}

InletProcess::~InletProcess() {
  if (child_->Running()) {
    child_->Kill(SIGTERM);
    for (int i = 0; i < 100 && child_->Running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool InletProcess::WaitReady(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!child_->Running()) return false;
    http::HttpClient probe("127.0.0.1", static_cast<uint16_t>(port_), std::chrono::seconds(2));
    auto r = probe.Request("GET", "/healthz");
    if (r.ok() && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

Result<http::ClientResponse> InletProcess::Post(
    const std::string& target, const std::string& body,
    std::vector<std::pair<std::string, std::string>> headers) {
  bool has_auth = false, has_type = false;
  for (const auto& [k, v] : headers) {
    has_auth |= k == "Authorization" || k == "X-Api-Key";
    has_type |= k == "Content-Type";
  }
  if (!has_auth) headers.emplace_back("Authorization", std::string("Bearer ") + kTestKey);
  if (!has_type) headers.emplace_back("Content-Type", "application/json");
  return client_.Request("POST", target, body, headers);
}

Result<http::ClientResponse> InletProcess::Get(const std::string& target) {
  return client_.Request("GET", target, "", {{"Authorization", std::string("Bearer ") + kTestKey}});
}

}  // namespace inlet::testing
