// `inlet policy test`: tries an SNS filter policy on one message before it is
// deployed, with the same engine the bus uses (bus/filter_policy.h). Adds
// itself to a CLI11 app; stateless and single-threaded like the rest of main.
#pragma once

#include <CLI/CLI.hpp>
#include <iosfwd>

namespace inlet::cli {

// Adds the `policy` command (with its `test` subcommand) to `app`. When it
// runs, it prints `match` or `no match` and sets *exit_code to 0, or prints
// the validation error (policy or attributes) and sets it to non-zero (1
// for an invalid policy or message, 2 for an unreadable file). `exit_code`
// must outlive app.parse().
void AddPolicyCommand(CLI::App& app, int& exit_code);

// The body of `inlet policy test` once the options are parsed: for tests and
// for callers that do not use CLI11. Returns the exit code.
int RunPolicyTest(const std::string& policy_file, const std::string& message_file,
                  const std::string& attributes_file, const std::string& scope, std::ostream& out,
                  std::ostream& err);

}  // namespace inlet::cli
