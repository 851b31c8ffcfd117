#include "support/radosgw.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/test_support.h"

namespace inlet::testing {

namespace fs = std::filesystem;

namespace {

bool OnPath(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string d;
  while (std::getline(dirs, d, ':')) {
    if (!d.empty() && ::access((fs::path(d) / tool).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

// Runs a shell command; its exit code and combined output.
int Run(const std::string& command, std::string* output) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string EnvValue(const std::string& env_file, const std::string& name) {
  std::string prefix = "export " + name + "=";
  std::stringstream in(env_file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  return "";
}

bool Listening(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

pid_t ReadPid(const fs::path& pid_file) {
  std::ifstream in(pid_file);
  pid_t pid = 0;
  in >> pid;
  return pid;
}

// A pid is the daemon of this cluster only if its command line names our
// config (pids get reused).
bool Ours(pid_t pid, const fs::path& conf) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return cmdline.find(conf.string()) != std::string::npos;
}

}  // namespace

bool RadosGateway::Installed() {
  for (const char* tool : {"ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool"}) {
    if (!OnPath(tool)) return false;
  }
  return true;
}

Result<std::unique_ptr<RadosGateway>> RadosGateway::Start(const fs::path& dir,
                                                          uint64_t max_put_bytes) {
  if (!Installed()) {
    return Status::Unsupported(
        "Ceph is not installed (Debian packages ceph-mon ceph-osd radosgw ceph-common; "
        "scripts/bootstrap installs them)");
  }
  std::unique_ptr<RadosGateway> gw(new RadosGateway());
  gw->dir_ = dir;
  std::string command = "INLET_RADOSGW_OWNER_PID=" + std::to_string(::getpid()) + " ";
  if (max_put_bytes > 0)
    command += "INLET_RADOSGW_MAX_PUT_BYTES=" + std::to_string(max_put_bytes) + " ";
  command += Quote((SourceDir() / "scripts" / "start-radosgw").string()) + " " +
             Quote(dir.string()) + " 0";
  auto begin = std::chrono::steady_clock::now();
  std::string output;
  int rc = Run(command, &output);
  gw->start_time_ = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - begin);
  if (rc != 0) {
    return Status::Unavailable("scripts/start-radosgw failed (exit " + std::to_string(rc) + "):\n" +
                               output);
  }
  std::string env = ReadFile(dir / "env");
  gw->endpoint_ = EnvValue(env, "AWS_ENDPOINT_URL");
  gw->access_key_ = EnvValue(env, "AWS_ACCESS_KEY_ID");
  gw->secret_key_ = EnvValue(env, "AWS_SECRET_ACCESS_KEY");
  size_t colon = gw->endpoint_.rfind(':');
  if (gw->endpoint_.empty() || gw->access_key_.empty() || colon == std::string::npos) {
    return Status::Internal("scripts/start-radosgw wrote no endpoint/keys in " +
                            (dir / "env").string());
  }
  gw->port_ = std::atoi(gw->endpoint_.c_str() + colon + 1);
  return gw;
}

RadosGateway::~RadosGateway() {
  std::string output;
  Run(Quote((SourceDir() / "scripts" / "stop-radosgw").string()) + " " + Quote(dir_.string()),
      &output);
}

uint64_t RadosGateway::ResidentBytes() const {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_ / "run", ec)) {
    if (entry.path().extension() != ".pid" || entry.path().stem() == "watch") continue;
    pid_t pid = ReadPid(entry.path());
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0)
        total += std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
    }
  }
  return total;
}

Status RadosGateway::StopGateway() {
  fs::path conf = dir_ / "ceph.conf";
  pid_t pid = ReadPid(dir_ / "run" / "client.rgw.pid");
  if (!Ours(pid, conf)) return Status::NotFound("radosgw is not running in " + dir_.string());
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 100 && Ours(pid, conf); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (Ours(pid, conf)) ::kill(pid, SIGKILL);
  for (int i = 0; i < 50 && Listening(port_); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::Ok();
}

Status RadosGateway::StartGateway() {
  std::string output;
  int rc = Run("radosgw -c " + Quote((dir_ / "ceph.conf").string()) + " -n client.rgw >>" +
                   Quote((dir_ / "log" / "rgw.out").string()),
               &output);
  if (rc != 0) return Status::Unavailable("radosgw failed to start: " + output);
  for (int i = 0; i < 300; ++i) {
    if (Listening(port_)) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status(StatusCode::kTimeout,
                "radosgw did not listen on port " + std::to_string(port_) + " within 30s");
}

}  // namespace inlet::testing
