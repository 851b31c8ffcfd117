// Runs golden SQL files (a subset of DuckDB's sqllogictest format) through
// inlet's query engine over the fixed test lake (test_lake.h):
//
//   # comment
//   query <one letter per column> [rowsort]     the query, then ---- and the
//   SELECT ...                                   expected rows, columns by tabs,
//   ----                                         NULL for null; a blank line ends it
//   1	f
//
//   statement error <part of the message>        the next line must fail with a
//   COPY (SELECT 1) TO 'x'                       4xx error containing the text
//
// Prints each failure with its file and line; exit status 1 when any failed.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "golden/test_lake.h"
#include "lake/lake_service.h"
#include "support/test_support.h"

namespace {

using inlet::lake::CellKind;

std::string Render(const inlet::lake::Cell& c) {
  return c.kind == CellKind::kNull ? "NULL" : c.text;
}

int RunFile(const std::string& file, inlet::lake::QueryEngine* engine) {
  std::ifstream in(file);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", file.c_str());
    return 1;
  }
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  int failures = 0, checks = 0;
  size_t i = 0;
  auto fail = [&](size_t line, const std::string& what) {
    std::fprintf(stderr, "%s:%zu: %s\n", file.c_str(), line + 1, what.c_str());
    ++failures;
  };
  while (i < lines.size()) {
    const std::string& l = lines[i];
    if (l.empty() || l[0] == '#') {
      ++i;
      continue;
    }
    size_t head = i;
    if (l.rfind("statement error", 0) == 0) {
      std::string expect = l.size() > 16 ? l.substr(16) : "";
      std::string sql;
      for (++i; i < lines.size() && !lines[i].empty(); ++i) sql += lines[i] + "\n";
      auto r = engine->Query(sql);
      ++checks;
      if (r.ok()) {
        fail(head, "expected an error, the statement succeeded: " + sql);
      } else {
        int http = inlet::lake::HttpStatusOf(r.status());
        if (http < 400 || http >= 500)
          fail(head, "expected a 4xx error, got " + std::to_string(http));
        if (r.status().message().find(expect) == std::string::npos) {
          fail(head, "error message lacks '" + expect + "': " + r.status().message());
        }
      }
      continue;
    }
    if (l.rfind("query", 0) == 0) {
      bool rowsort = l.find("rowsort") != std::string::npos;
      std::string sql;
      for (++i; i < lines.size() && lines[i] != "----"; ++i) sql += lines[i] + "\n";
      std::vector<std::string> expected;
      for (++i; i < lines.size() && !lines[i].empty(); ++i) expected.push_back(lines[i]);
      auto r = engine->Query(sql, 100000);
      ++checks;
      if (!r.ok()) {
        fail(head, "query failed: " + r.status().ToString());
        continue;
      }
      std::vector<std::string> got;
      for (const auto& row : r->rows) {
        std::string s;
        for (size_t c = 0; c < row.size(); ++c) s += (c ? "\t" : "") + Render(row[c]);
        got.push_back(s);
      }
      if (rowsort) {
        std::sort(got.begin(), got.end());
        std::sort(expected.begin(), expected.end());
      }
      if (got != expected) {
        std::string msg = "result differs\n  expected:\n";
        for (const auto& e : expected) msg += "    " + e + "\n";
        msg += "  got:\n";
        for (const auto& g : got) msg += "    " + g + "\n";
        fail(head, msg);
      }
      continue;
    }
    fail(i, "unknown directive: " + l);
    ++i;
  }
  std::printf("%s: %d checks, %d failed\n", file.c_str(), checks, failures);
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: golden_sql_tests FILE.test...\n");
    return 2;
  }
  inlet::testing::TempDir dir;
  auto lake = dir.path() / "lake";
  std::filesystem::create_directories(lake);
  inlet::testing::WriteTestEvents(lake);
  auto service = inlet::lake::LakeService::Open(inlet::lake::LakeConfig{}, lake,
                                                inlet::testing::TestLakeTables());
  if (!service.ok()) {
    std::fprintf(stderr, "cannot open the test lake: %s\n", service.status().ToString().c_str());
    return 1;
  }
  int rc = 0;
  for (int a = 1; a < argc; ++a) rc |= RunFile(argv[a], (*service)->engine());
  return rc;
}
