// `inlet reprocess` and `inlet versions list|use`: replays the raw lake of a
// time range through a processor's stages (the configuration given, e.g. a
// new radius or new POIs) into a new version of the curated tables, beside
// the old ones (curated/poi_presence_versions/version=vN/...), records the version in
// the catalog, and switches the current version. The raw rows are read with
// DuckDB (the only DuckDB code of the command is the RawLakeReader in the
// .cc). Single-threaded like the rest of main.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "lake/versions.h"

namespace inlet::cli {

struct ReprocessOptions {
  int64_t from_us = 0;         // inclusive, microseconds since the epoch (UTC)
  int64_t to_us = 0;           // exclusive
  std::string version;         // [A-Za-z0-9_.-]+, not "live"
  std::string processor;       // "" = the configuration's only processor (else required)
  bool progress = false;       // draw a progress bar on stdout
  size_t batch_rows = 20'000;  // messages per ProcessBatch (one commit each)
};

struct ReprocessReport {
  uint64_t rows = 0;  // raw rows read in the range
  uint64_t accepted = 0;
  uint64_t rejected = 0;                    // validation errors and late events
  uint64_t windows = 0;                     // poi_presence windows written
  std::vector<lake::VersionInfo> versions;  // recorded in the catalog
};

// "2024-05-01", "2024-05-01T12:00", "2024-05-01T12:00:00Z", "...+02:00",
// fractions allowed; no offset means UTC. Microseconds since the epoch.
Result<int64_t> ParseTimeArgument(std::string_view text);

// Re-processes [from, to) of the raw table of the processor into version
// `options.version` of its outputs: curated/poi_presence (aggregate.location),
// curated/events (events_location) and errors (errors_location), each
// lake::VersionLocation (curated/poi_presence_versions/version=<v>/). The version's folders are
// deleted first, so a re-run gives the same files. Records the versions in the catalog without
// making them current.
Result<ReprocessReport> Reprocess(const config::Config& config, const ReprocessOptions& options);

// Adds `reprocess` and `versions` (list, use) to `app`; a command that runs
// sets *exit_code (0 ok, 1 failed, 2 invalid configuration or options).
// `exit_code` must outlive app.parse().
void AddReprocessCommand(CLI::App& app, int& exit_code);

}  // namespace inlet::cli
