// `inlet demo` as `make demo` runs it, on a copy of examples/inlet.yaml with
// its own port and data folder: it exits 0 without a terminal, and every
// part of its summary (the SQL queries over the lake included) answers.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "support/test_support.h"

namespace inlet::testing {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Replaces the one occurrence of `from` in *text (a failed expectation when absent).
void ReplaceOnce(std::string* text, const std::string& from, const std::string& to) {
  size_t at = text->find(from);
  ASSERT_NE(at, std::string::npos) << "examples/inlet.yaml no longer has: " << from;
  text->replace(at, from.size(), to);
}

TEST(DemoTest, RunsEndToEndAndEverySummaryQueryAnswers) {
  TempDir dir;
  const fs::path examples = SourceDir() / "examples";
  std::string config = ReadFile(examples / "inlet.yaml");
  ReplaceOnce(&config, "listen: 127.0.0.1:8080", "listen: 127.0.0.1:" + std::to_string(FreePort()));
  ReplaceOnce(&config, "data_dir: ./data/inlet", "data_dir: " + (dir.path() / "data").string());
  fs::copy(examples / "poi", dir.path() / "poi", fs::copy_options::recursive);  // beside the config
  const fs::path config_file = dir.path() / "inlet.yaml";
  std::ofstream(config_file) << config;

  const fs::path log = dir.path() / "demo.log";
  Child demo({InletBinary().string(), "demo", "--fresh", "--seconds", "8", config_file.string()},
             log);
  ASSERT_EQ(demo.Wait(), 0) << ReadFile(log);
  const std::string out = ReadFile(log);
  for (const char* part : {"events ingested (durable)", "events stored in the raw lake",
                           "rejected by the processor, by category", "top points of interest"}) {
    EXPECT_NE(out.find(part), std::string::npos) << "missing '" << part << "' in:\n" << out;
  }
  // The summary's queries print DuckDB's error text when they fail.
  for (const char* error : {"Binder Error", "Catalog Error", "IO Error", "Parser Error"}) {
    EXPECT_EQ(out.find(error), std::string::npos) << out;
  }
  // The simulator sends invalid events on purpose: the processor's table of
  // rejected events shows them by category.
  size_t rejected = out.find("rejected by the processor, by category");
  ASSERT_NE(rejected, std::string::npos);
  EXPECT_NE(out.find("category", rejected + 40), std::string::npos) << out;
  EXPECT_NE(out.find("invalid_value", rejected), std::string::npos) << out;
}

}  // namespace
}  // namespace inlet::testing
