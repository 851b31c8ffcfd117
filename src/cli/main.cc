// inlet: one binary, one subcommand per task. See `inlet --help`.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "cli/demo_command.h"
#include "cli/lake_commands.h"
#include "cli/pipeline.h"
#include "cli/policy_command.h"
#include "cli/reprocess_command.h"
#include "config/config.h"
#include "http/api_keys.h"
#include "loadgen/load_generator.h"

namespace {

using inlet::Status;

int Fail(const std::string& message) {
  std::fprintf(stderr, "inlet: %s\n", message.c_str());
  return 1;
}

// Waits for SIGINT or SIGTERM (blocked in every thread by main).
int WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

int RunCommand(const std::string& path) {
  auto config = inlet::config::LoadConfig(path);
  if (!config.ok()) return Fail("invalid configuration:\n" + config.status().message());
  inlet::cli::Pipeline pipeline(std::move(config).value());
  Status st = pipeline.Start();
  if (!st.ok()) return Fail("cannot start: " + st.ToString());
  int sig = WaitForSignal();
  spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  pipeline.Stop();
  return 0;
}

int CheckCommand(const std::string& path) {
  auto config = inlet::config::LoadConfig(path);
  if (!config.ok()) return Fail("invalid configuration:\n" + config.status().message());
  const auto& c = config.value();
  std::printf("%s: valid (%zu tables, %zu topics, %zu subscriptions, %zu API keys)\n", path.c_str(),
              c.tables.size(), c.topics.size(), c.subscriptions.size(), c.api_keys.size());
  return 0;
}

int KeygenCommand(const std::string& id) {
  std::random_device rd;
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string key = "inlet_";
  for (int i = 0; i < 40; ++i) key += kAlphabet[rd() % 62];
  std::printf(
      "key:    %s\n\nAdd to the configuration (only the hash is stored):\n\napi_keys:\n  %s:\n    "
      "sha256: %s\n"
      "    scopes: [\"publish:*\", \"consume:*\", query]\n",
      key.c_str(), id.c_str(), inlet::http::Sha256Hex(key).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  CLI::App app{
      "inlet: a near-real-time event pipeline. Producers POST JSON events over HTTP; inlet stores "
      "them durably, delivers them to subscriptions and a Parquet lake, and processes them."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "inlet 0.1.0");
  int exit_code = 0;

  std::string config_path;
  auto* run =
      app.add_subcommand("run", "Run every component the configuration declares, in this process");
  run->add_option("config", config_path, "Configuration file (YAML)")
      ->required()
      ->check(CLI::ExistingFile);
  run->callback([&] { exit_code = RunCommand(config_path); });

  auto* check =
      app.add_subcommand("check", "Validate a configuration and exit (non-zero when invalid)");
  check->add_option("config", config_path, "Configuration file (YAML)")
      ->required()
      ->check(CLI::ExistingFile);
  check->callback([&] { exit_code = CheckCommand(config_path); });

  std::string key_id = "my-key";
  auto* keygen =
      app.add_subcommand("keygen", "Make a new random API key and print its config entry");
  keygen->add_option("--id", key_id, "Id of the key in the configuration");
  keygen->callback([&] { exit_code = KeygenCommand(key_id); });

  inlet::cli::AddPolicyCommand(app, exit_code);
  inlet::cli::AddDemoCommand(app, exit_code);
  inlet::cli::AddLakeCommands(app, exit_code);
  inlet::cli::AddReprocessCommand(app, exit_code);

  inlet::loadgen::LoadOptions load;
  std::string url = "127.0.0.1:8080", template_file;
  double seconds = 10;
  auto* loadgen =
      app.add_subcommand("loadgen",
                         "Send a synthetic event load to inlet's publish API and report "
                         "events/s and ack latency");
  loadgen->add_option("--url", url, "HOST:PORT of inlet")->capture_default_str();
  loadgen->add_option("--topic", load.topic, "Topic to publish to")->capture_default_str();
  loadgen->add_option("--key", load.api_key, "API key (default: $INLET_API_KEY)")
      ->envname("INLET_API_KEY");
  loadgen
      ->add_option("--rate", load.rate, "Events per second in total (0: as fast as acknowledged)")
      ->capture_default_str();
  loadgen->add_option("--duration", seconds, "Seconds to run")->capture_default_str();
  loadgen
      ->add_option("--batch", load.batch,
                   "Events per request (NDJSON); 1 sends single JSON objects")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  loadgen->add_option("--connections", load.connections, "Keep-alive connections (one thread each)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  loadgen
      ->add_option(
          "--template", template_file,
          "File with the event template; placeholders {{id}} {{seq}} {{ts}} {{user}} {{rand}}")
      ->check(CLI::ExistingFile);
  loadgen->callback([&] {
    size_t colon = url.rfind(':');
    if (colon == std::string::npos) {
      exit_code = Fail("--url must be HOST:PORT");
      return;
    }
    load.host = url.substr(0, colon);
    load.port = static_cast<uint16_t>(std::stoi(url.substr(colon + 1)));
    load.duration = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    if (!template_file.empty()) {
      std::ifstream in(template_file);
      std::stringstream ss;
      ss << in.rdbuf();
      load.payload_template = ss.str();
      while (!load.payload_template.empty() &&
             std::isspace(static_cast<unsigned char>(load.payload_template.back()))) {
        load.payload_template.pop_back();
      }
    }
    auto report = inlet::loadgen::RunLoad(load);
    if (!report.ok()) {
      exit_code = Fail(report.status().ToString());
      return;
    }
    std::printf("%s\n", report->Summary().c_str());
    exit_code = report->events_acked > 0 ? 0 : 1;
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
