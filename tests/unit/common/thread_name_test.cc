#include "common/thread_name.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

namespace inlet {
namespace {

std::string OwnName() {
  std::ifstream in("/proc/self/task/" + std::to_string(syscall(SYS_gettid)) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

TEST(ThreadNameTest, ShowsInProcAndIsCutTo15Bytes) {
  std::string shown, cut;
  std::thread([&] {
    SetThreadName("log:events");
    shown = OwnName();
    SetThreadName("deliver:raw-events-to-the-lake");
    cut = OwnName();
  }).join();
  EXPECT_EQ(shown, "log:events");
  EXPECT_EQ(cut, "deliver:raw-eve");
}

}  // namespace
}  // namespace inlet
