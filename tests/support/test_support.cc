#include "support/test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace inlet::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::random_device rd;
  const char* tmp = std::getenv("TMPDIR");
  fs::path base = tmp ? tmp : "/tmp";
  path_ = base / ("inlet-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  if (std::getenv("INLET_KEEP_TEST_DIRS")) {  // for looking at a failure's data and logs
    std::fprintf(stderr, "kept %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

fs::path SourceDir() { return INLET_SOURCE_DIR; }
fs::path BinaryDir() { return INLET_BINARY_DIR; }
fs::path InletBinary() { return BinaryDir() / "inlet"; }

fs::path SharedDir() {
  if (const char* env = std::getenv("INLET_SHARED_DIR")) return env;
  fs::path p = SourceDir().parent_path() / "shared";
  std::error_code ec;
  if (fs::is_directory(p / "conformance", ec)) return p;
  return {};
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    throw std::runtime_error("bind failed");
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& path, const std::string& content) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

Child::Child(std::vector<std::string> argv, fs::path log_file) : log_file_(std::move(log_file)) {
  pid_ = fork();
  if (pid_ == 0) {
    int fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

Child::~Child() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    Wait();
  }
}

void Child::Kill(int signal) {
  if (!reaped_) ::kill(pid_, signal);
}

int Child::Wait() {
  if (reaped_) return status_;
  int st = 0;
  waitpid(pid_, &st, 0);
  reaped_ = true;
  status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return status_;
}

bool Child::Running() {
  if (reaped_) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

std::string Child::Log() const { return ReadFile(log_file_); }

}  // namespace inlet::testing
