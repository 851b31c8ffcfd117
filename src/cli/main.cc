// inlet: one binary, one subcommand per task. See `inlet --help`.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
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

struct RunFlags {
  std::string listen;    // HOST:PORT overriding server.listen
  std::string data_dir;  // overriding storage.data_dir
  std::string worker_id;
};

// Applies the command-line overrides; log_dir and lake_dir follow data_dir
// when they were under it.
Status ApplyRunFlags(const RunFlags& flags, inlet::config::Config* config,
                     inlet::cli::PipelineOptions* options) {
  if (!flags.listen.empty()) {
    const size_t colon = flags.listen.rfind(':');
    int port = -1;
    if (colon != std::string::npos) {
      try {
        port = std::stoi(flags.listen.substr(colon + 1));
      } catch (...) {
      }
    }
    if (colon == std::string::npos || colon == 0 || port < 0 || port > 65535)
      return Status::InvalidArgument("--listen: expected HOST:PORT such as 127.0.0.1:8081, got '" +
                                     flags.listen + "'");
    options->listen_host = flags.listen.substr(0, colon);
    options->listen_port = static_cast<uint16_t>(port);
  }
  if (!flags.data_dir.empty()) {
    auto& st = config->storage;
    const std::filesystem::path old = st.data_dir;
    auto rebase = [&](std::filesystem::path* p) {
      auto rel = p->lexically_relative(old);
      if (!rel.empty() && *rel.begin() != "..") *p = std::filesystem::path(flags.data_dir) / rel;
    };
    rebase(&st.log_dir);
    rebase(&st.lake_dir);
    st.data_dir = flags.data_dir;
  }
  options->worker_id = flags.worker_id;
  return Status::Ok();
}

int RunCommand(const std::string& path, unsigned roles, const RunFlags& flags) {
  auto config = inlet::config::LoadConfig(path);
  if (!config.ok()) return Fail("invalid configuration:\n" + config.status().message());
  inlet::cli::PipelineOptions options;
  options.roles = roles;
  Status applied = ApplyRunFlags(flags, &config.value(), &options);
  if (!applied.ok()) return Fail(applied.message());
  if (roles != inlet::cli::kAllRoles &&
      config->bus.type == inlet::config::BusSettings::Type::kEmbedded) {
    return Fail("inlet " + inlet::cli::RoleNames(roles) +
                " runs one role of a scaled-out deployment and needs bus.type: jetstream (the "
                "embedded log belongs to one process); use `inlet run` for the embedded default");
  }
  inlet::cli::Pipeline pipeline(std::move(config).value(), options);
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
  RunFlags run_flags;
  auto add_run_flags = [&](CLI::App* cmd) {
    cmd->add_option("config", config_path, "Configuration file (YAML)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--listen", run_flags.listen,
                    "HOST:PORT of this process's HTTP server, overriding server.listen (port 0 "
                    "picks a free one)");
    cmd->add_option("--data-dir", run_flags.data_dir,
                    "Overrides storage.data_dir (and log_dir and lake_dir when under it), for "
                    "several processes on one host");
    cmd->add_option("--worker-id", run_flags.worker_id,
                    "Name of this process among the processes of its role (default: "
                    "host-pid-random)");
  };
  auto* run =
      app.add_subcommand("run", "Run every component the configuration declares, in this process");
  add_run_flags(run);
  run->callback([&] { exit_code = RunCommand(config_path, inlet::cli::kAllRoles, run_flags); });
  const struct {
    const char* name;
    unsigned role;
    const char* help;
  } kRoles[] = {
      {"ingest", inlet::cli::kRoleIngest,
       "Run the ingest role: the HTTP ingest and consumer APIs, publishing to JetStream"},
      {"deliver", inlet::cli::kRoleDeliver,
       "Run the delivery role: raw events to the lake, sharing the partitions with the other "
       "deliver processes"},
      {"process", inlet::cli::kRoleProcess,
       "Run the processing role: curated tables and aggregates, sharing the partitions with the "
       "other process processes"},
      {"serve", inlet::cli::kRoleServe,
       "Run the serving role: catalog, crawlers, SQL, dashboard and notifications"},
  };
  for (const auto& r : kRoles) {
    auto* cmd = app.add_subcommand(r.name, r.help);
    add_run_flags(cmd);
    cmd->callback([&, role = r.role] { exit_code = RunCommand(config_path, role, run_flags); });
  }

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
  loadgen
      ->add_option("--id-prefix", load.id_prefix,
                   "Event ids read <prefix>-<connection>-<n>; give each concurrent loadgen its own")
      ->capture_default_str();
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
