// Starts the real inlet binary for a benchmark (`inlet run CONFIG`, output to
// a log file) and waits until it answers /healthz; stops it with SIGTERM.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "http/http_client.h"

namespace inlet::bench {

class InletServer {
 public:
  InletServer(const char* binary, const std::filesystem::path& config,
              const std::filesystem::path& log, int port) {
    pid_ = fork();
    if (pid_ == 0) {
      if (FILE* f = std::freopen(log.c_str(), "w", stdout)) dup2(fileno(f), 2);
      execl(binary, binary, "run", config.c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 400; ++i) {
      http::HttpClient probe("127.0.0.1", static_cast<uint16_t>(port));
      auto r = probe.Request("GET", "/healthz");
      if (r.ok() && r->status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~InletServer() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

}  // namespace inlet::bench
