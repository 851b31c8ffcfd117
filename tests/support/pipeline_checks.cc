#include "support/pipeline_checks.h"

#include <gtest/gtest.h>

#include <csignal>
#include <random>
#include <thread>

#include "support/duckdb_query.h"

namespace inlet::testing {
namespace fs = std::filesystem;

void IdLedger::Acked(const std::vector<std::string>& ids) {
  std::lock_guard lock(mu_);
  acked_.insert(ids.begin(), ids.end());
}

void IdLedger::Unknown(const std::vector<std::string>& ids) {
  std::lock_guard lock(mu_);
  unknown_.insert(ids.begin(), ids.end());
}

void IdLedger::Record(std::set<std::string>* into, const std::string& prefix, uint32_t connection,
                      uint64_t first, uint64_t last) {
  const std::string head = prefix + "-" + std::to_string(connection) + "-";
  std::lock_guard lock(mu_);
  for (uint64_t n = first; n <= last; ++n) into->insert(head + std::to_string(n));
}

void IdLedger::Attach(loadgen::LoadOptions* o) {
  const std::string prefix = o->id_prefix;
  o->on_ack = [this, prefix](uint32_t c, uint64_t f, uint64_t l) {
    Record(&acked_, prefix, c, f, l);
  };
  o->on_unknown = [this, prefix](uint32_t c, uint64_t f, uint64_t l) {
    Record(&unknown_, prefix, c, f, l);
  };
}

bool KillRepeatedly(const fs::path& dir, const std::string& config, int port, const KillPlan& plan,
                    const std::function<void(int round, std::atomic<bool>* stop)>& load,
                    const std::function<void(int round)>& after_kill) {
  std::mt19937 rng(plan.seed);
  const auto spread = static_cast<uint32_t>(std::max<int64_t>(1, plan.spread.count()));
  for (int round = 0; round < plan.rounds; ++round) {
    InletProcess inlet(dir, config, port);
    if (!inlet.WaitReady()) {
      ADD_FAILURE() << "inlet did not start in round " << round << ":\n" << inlet.Log();
      return false;
    }
    std::atomic<bool> stop{false};
    std::thread producer;
    if (load) producer = std::thread([&] { load(round, &stop); });
    std::this_thread::sleep_for(plan.min_up + std::chrono::milliseconds(rng() % spread));
    inlet.Kill(SIGKILL);
    inlet.Wait();
    stop = true;
    if (producer.joinable()) producer.join();
    if (after_kill) after_kill(round);
  }
  return true;
}

bool WaitForBody(InletProcess& inlet, const std::string& path, const std::string& needle,
                 std::chrono::seconds timeout, std::string* last) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = inlet.Get(path);
    if (r.ok()) {
      if (last) *last = r->body;
      if (r->body.find(needle) != std::string::npos) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

bool WaitForDrained(InletProcess& inlet, const std::string& subscription,
                    std::chrono::seconds timeout, std::string* last) {
  return WaitForBody(inlet, "/v1/subscriptions/" + subscription, "\"backlog\":0,", timeout, last);
}

std::string ParquetScan(const fs::path& dir) {
  return "read_parquet('" + (dir / "**" / "*.parquet").string() + "')";
}

bool HasParquet(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->path().extension() == ".parquet" && it->path().filename().string()[0] != '.')
      return true;
  }
  return false;
}

IdCounts CountIds(const fs::path& dir, const std::string& id_expr) {
  IdCounts counts;
  if (!HasParquet(dir)) return counts;
  for (auto& row : DuckQuery("SELECT " + id_expr + " AS id, count(*) FROM " + ParquetScan(dir) +
                             " GROUP BY 1")) {
    counts[row[0]] = std::stoll(row[1]);
  }
  return counts;
}

void AddCounts(IdCounts* into, const IdCounts& more) {
  for (const auto& [id, n] : more) (*into)[id] += n;
}

void ExpectExactlyOnce(const IdCounts& counts, const std::set<std::string>& required,
                       const std::set<std::string>& optional, const std::string& what) {
  size_t twice = 0, foreign = 0, missing = 0;
  std::string twice_example, foreign_example, missing_example;
  for (const auto& [id, n] : counts) {
    if (n > 1 && twice++ == 0) twice_example = id + " (" + std::to_string(n) + " times)";
    if (!required.count(id) && !optional.count(id) && foreign++ == 0) foreign_example = id;
  }
  for (const auto& id : required) {
    if (!counts.count(id) && missing++ == 0) missing_example = id;
  }
  EXPECT_EQ(twice, 0u) << what << ": " << twice << " ids more than once, e.g. " << twice_example;
  EXPECT_EQ(missing, 0u) << what << ": " << missing << " of " << required.size()
                         << " acknowledged ids missing, e.g. " << missing_example;
  EXPECT_EQ(foreign, 0u) << what << ": " << foreign
                         << " ids that were never sent or do not belong there, e.g. "
                         << foreign_example;
}

void ExpectSameRows(const std::string& actual_sql, const std::string& expected_sql,
                    const std::string& what) {
  auto describe = [](const Rows& rows) {
    std::string s;
    for (size_t i = 0; i < rows.size() && i < 5; ++i) {
      s += "\n   ";
      for (const auto& v : rows[i]) s += " " + v;
    }
    return s;
  };
  const std::string a = "(" + actual_sql + ")", e = "(" + expected_sql + ")";
  auto extra = DuckQuery("SELECT * FROM " + a + " EXCEPT ALL SELECT * FROM " + e);
  auto lacking = DuckQuery("SELECT * FROM " + e + " EXCEPT ALL SELECT * FROM " + a);
  auto size = DuckQuery("SELECT count(*) FROM " + e);
  EXPECT_TRUE(extra.empty() && lacking.empty())
      << what << ": " << extra.size() << " rows not expected:" << describe(extra) << "\n  "
      << lacking.size() << " expected rows missing or different:" << describe(lacking) << "\n  ("
      << (size.empty() ? "?" : size[0][0]) << " rows expected)";
}

void ExpectUniqueKeys(const std::string& relation, const std::string& key_columns,
                      const std::string& what) {
  auto dup = DuckQuery("SELECT count(*) FROM (SELECT " + key_columns + ", count(*) AS c FROM " +
                       relation + " GROUP BY ALL HAVING c > 1)");
  ASSERT_EQ(dup.size(), 1u);
  EXPECT_EQ(dup[0][0], "0") << what << ": keys (" << key_columns << ") repeated";
}

}  // namespace inlet::testing
