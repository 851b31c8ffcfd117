// `inlet demo`: the whole pipeline on a configuration (examples/inlet.yaml by
// default), fed by the built-in app simulator, with live progress and a
// summary; keeps serving in an interactive terminal until Ctrl-C.
#pragma once

#include <CLI/CLI.hpp>

namespace inlet::cli {

void AddDemoCommand(CLI::App& app, int& exit_code);

}  // namespace inlet::cli
