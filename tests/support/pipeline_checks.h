// Shared pieces of the tests that SIGKILL the real inlet binary under load
// (tests/crash, tests/reliability): a ledger of the ids producers sent, the
// kill-and-restart loop, waits on the HTTP API, and exactly-once checks over
// the lake read with DuckDB. IdLedger is thread-safe; the rest is called from
// the test's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "loadgen/load_generator.h"
#include "support/inlet_process.h"

namespace inlet::testing {

// Configuration pieces shared by the tests that load events of
// loadgen's location template ({"event_id","user_id","ts","lat","lon","n"}):
// the raw table, and the head of processor "presence" on subscription
// "processing" (its masking, aggregate and workers follow).
inline constexpr const char* kLocationEventsTable = R"(tables:
  raw.events:
    columns:
      - {name: event_id, type: string, required: true}
      - {name: user_id, type: string, required: true}
      - {name: ts, type: timestamp, required: true}
      - {name: lat, type: double, required: true}
      - {name: lon, type: double, required: true}
      - {name: age, type: int}
      - {name: gender, type: string}
      - {name: n, type: bigint}
)";
inline constexpr const char* kPresenceProcessorHead = R"(processors:
  presence:
    subscription: processing
    table: raw.events
    mapping:
      event_id: $.event_id
      user_id: $.user_id
      ts: $.ts
      lat: $.lat
      lon: $.lon
      age: {path: $.age, derive: age}
      gender: {path: $.gender, derive: gender}
)";

// The ids producers sent, by outcome: acknowledged (HTTP 200: must be kept),
// or unknown (the request may or may not have been stored: the connection
// failed after sending). Ids refused with an HTTP error are not recorded.
class IdLedger {
 public:
  void Acked(const std::vector<std::string>& ids);
  void Unknown(const std::vector<std::string>& ids);
  // Sets o->on_ack and o->on_unknown to record `<o->id_prefix>-<connection>-<n>`,
  // the ids of loadgen::RunLoad. Set o->id_prefix first.
  void Attach(loadgen::LoadOptions* o);

  // REQUIRES: no producer records concurrently.
  const std::set<std::string>& acked() const { return acked_; }
  const std::set<std::string>& unknown() const { return unknown_; }

 private:
  void Record(std::set<std::string>* into, const std::string& prefix, uint32_t connection,
              uint64_t first, uint64_t last);
  std::mutex mu_;
  std::set<std::string> acked_, unknown_;
};

struct KillPlan {
  int rounds = 20;
  uint32_t seed = 1;  // of the kill moments
  // Each round, inlet runs for min_up + a uniform random part of spread after
  // it answered /healthz, then gets SIGKILL.
  std::chrono::milliseconds min_up{300};
  std::chrono::milliseconds spread{2000};
};

// Runs plan.rounds rounds of: start inlet with `config` in `dir` on `port`,
// wait until it is ready, run `load(round, &stop)` on a thread (when given)
// until stop is set, SIGKILL inlet at a random moment, wait for it to exit,
// stop and join the load, then call `after_kill(round)` (when given).
// Returns false (after adding a test failure with the log) when inlet does not
// start; the caller should then ASSERT on it.
bool KillRepeatedly(const std::filesystem::path& dir, const std::string& config, int port,
                    const KillPlan& plan,
                    const std::function<void(int round, std::atomic<bool>* stop)>& load,
                    const std::function<void(int round)>& after_kill = {});

// Polls GET `path` until the body contains `needle`; false after `timeout`,
// with the last body in *last (when given).
bool WaitForBody(InletProcess& inlet, const std::string& path, const std::string& needle,
                 std::chrono::seconds timeout, std::string* last = nullptr);
// Waits until the subscription has no unacknowledged message (for a delivery
// stream or a processor: everything committed to the lake).
bool WaitForDrained(InletProcess& inlet, const std::string& subscription,
                    std::chrono::seconds timeout, std::string* last = nullptr);

// The DuckDB relation of every *.parquet under `dir`; call only when HasParquet.
std::string ParquetScan(const std::filesystem::path& dir);
bool HasParquet(const std::filesystem::path& dir);

// How many times each id occurs: `id_expr` (SQL over the files' columns) over
// every Parquet file under `dir`; empty when there is none.
using IdCounts = std::map<std::string, int64_t>;
IdCounts CountIds(const std::filesystem::path& dir, const std::string& id_expr);
void AddCounts(IdCounts* into, const IdCounts& more);

// Expects every id of `required` exactly once in `counts`, the ids of
// `optional` at most once, and no other id (an id nobody sent, or one the
// output must not hold). Failures name `what`, the numbers and examples.
void ExpectExactlyOnce(const IdCounts& counts, const std::set<std::string>& required,
                       const std::set<std::string>& optional, const std::string& what);

// Expects the two queries to return the same multiset of rows (up to 5
// differing rows of each side are printed).
void ExpectSameRows(const std::string& actual_sql, const std::string& expected_sql,
                    const std::string& what);
// Expects no two rows of `relation` to share the values of `key_columns`
// (a comma-separated SQL list).
void ExpectUniqueKeys(const std::string& relation, const std::string& key_columns,
                      const std::string& what);

}  // namespace inlet::testing
