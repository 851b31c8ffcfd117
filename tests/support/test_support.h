// Helpers shared by the tests: temporary folders, the ../shared data sets,
// and child processes (the real inlet binary) started and killed by tests.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace inlet::testing {

// A fresh folder under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The ../shared folder next to the repository, or "" when it is missing (a
// user's clone): tests that need it call GTEST_SKIP with a clear message.
std::filesystem::path SharedDir();
#define INLET_REQUIRE_SHARED(dir_var)                                                       \
  const std::filesystem::path dir_var = ::inlet::testing::SharedDir();                      \
  if (dir_var.empty()) {                                                                    \
    GTEST_SKIP() << "../shared (test vectors and data sets) is not next to this checkout; " \
                    "skipping. CI has it.";                                                 \
  }

std::filesystem::path SourceDir();
std::filesystem::path BinaryDir();
// The built inlet binary.
std::filesystem::path InletBinary();

// A free TCP port on 127.0.0.1 (bound then released).
int FreePort();

std::string ReadFile(const std::filesystem::path& path);
void WriteFile(const std::filesystem::path& path, const std::string& content);

// A child process with stdout and stderr sent to a log file.
class Child {
 public:
  Child(std::vector<std::string> argv, std::filesystem::path log_file);
  ~Child();  // SIGKILLs the process if it still runs
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  void Kill(int signal);
  // Waits for exit; returns the exit status (128+signal when killed).
  int Wait();
  bool Running();
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::filesystem::path log_file_;
  bool reaped_ = false;
  int status_ = 0;
};

}  // namespace inlet::testing
