// Starts the real inlet binary for a benchmark (`inlet run CONFIG`, output to
// a log file) and waits until it answers /healthz; stops it with SIGTERM.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "http/http_client.h"

namespace inlet::bench {

class InletServer {
 public:
  InletServer(const char* binary, const std::filesystem::path& config,
              const std::filesystem::path& log, int port) {
    std::fflush(nullptr);  // or the child's copy of unwritten output is written twice
    pid_ = fork();
    if (pid_ == 0) {
      if (FILE* f = std::freopen(log.c_str(), "w", stdout)) dup2(fileno(f), 2);
      execl(binary, binary, "run", config.c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 400; ++i) {
      http::HttpClient probe("127.0.0.1", static_cast<uint16_t>(port));
      auto r = probe.Request("GET", "/healthz");
      if (r.ok() && r->status == 200) return;
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) break;  // exited: a bad config, a busy port
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // A benchmark of a process that is not running would measure nothing.
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "inlet did not start with %s; its log (%s):\n%s\n", config.c_str(),
                 log.c_str(), text.c_str());
    kill(pid_, SIGKILL);
    std::exit(1);
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
