// `inlet query`, `inlet crawl` and `inlet catalog list|show|history|ddl`:
// the lake's catalog, crawler and SQL engine from the command line. Each
// reads the configuration (--config FILE, default $INLET_CONFIG or
// examples/inlet.yaml) to find the lake and its tables. Also the mapping of
// a configuration to the tables the lake registers, shared with `inlet run`.
// Single-threaded like the rest of main.
#pragma once

#include <CLI/CLI.hpp>
#include <vector>

#include "config/config.h"
#include "lake/lake_service.h"

namespace inlet::cli {

// Adds the commands to `app`; when one runs it sets *exit_code (0 ok, 1 the
// command failed, 2 invalid configuration or options). `exit_code` must
// outlive app.parse().
void AddLakeCommands(CLI::App& app, int& exit_code);

// The tables a configuration declares, as the lake registers them: each
// delivery stream's table at its location with the delivery columns (_seq,
// _arrival_time, _time_source, _extra) and the Hive keys of its prefix; the
// delivery error tables (errors.format_conversion_failed,
// errors.partitioning_failed); every other table of `tables:` at
// <database>/<name>/.
std::vector<lake::TableRegistration> LakeTablesFromConfig(const config::Config& config);

}  // namespace inlet::cli
