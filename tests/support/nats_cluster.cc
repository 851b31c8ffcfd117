#include "support/nats_cluster.h"

#include <nats/nats.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include "support/test_support.h"

namespace inlet::testing {

std::string NatsCluster::ServerBinary() {
  // INLET_NATS_SERVER names another server; scripts/bootstrap puts nats-server 2.10 into
  // .deps (Debian 12's 2.9.10 loses acknowledged publishes after some leader elections).
  if (const char* chosen = std::getenv("INLET_NATS_SERVER"); chosen && *chosen) {
    return access(chosen, X_OK) == 0 ? std::string(chosen) : std::string();
  }
  const std::filesystem::path bundled = SourceDir() / ".deps/nats-server/bin/nats-server";
  if (access(bundled.c_str(), X_OK) == 0) return bundled.string();
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string d;
    while (std::getline(ss, d, ':')) dirs.push_back(d);
  }
  dirs.push_back("/usr/sbin");
  dirs.push_back("/usr/local/sbin");
  for (const auto& d : dirs) {
    std::filesystem::path p = std::filesystem::path(d) / "nats-server";
    if (access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

Result<std::unique_ptr<NatsCluster>> NatsCluster::Start(const std::filesystem::path& dir,
                                                        int nodes) {
  // A port found free can be taken by someone else before the server binds
  // it: start again on other ports (and fresh stores) when a node dies.
  Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto c = StartOnce(dir / ("try" + std::to_string(attempt)), nodes);
    if (c.ok()) return c;
    last = c.status();
    if (last.code() == StatusCode::kNotFound || last.code() == StatusCode::kInvalidArgument)
      return last;
  }
  return last;
}

Result<std::unique_ptr<NatsCluster>> NatsCluster::StartOnce(const std::filesystem::path& dir,
                                                            int nodes) {
  const std::string binary = ServerBinary();
  if (binary.empty()) return Status::NotFound("nats-server is not installed");
  if (nodes != 1 && nodes != 3) return Status::InvalidArgument("nodes must be 1 or 3");
  std::unique_ptr<NatsCluster> c(new NatsCluster());
  std::set<int> ports;
  auto unique_port = [&ports] {
    for (;;) {
      const int p = FreePort();
      if (ports.insert(p).second) return p;
    }
  };
  for (int i = 0; i < nodes; ++i) {
    Node n;
    n.name = "n" + std::to_string(i);
    n.port = unique_port();
    n.cluster_port = unique_port();
    n.store = dir / n.name;
    std::filesystem::create_directories(n.store);
    c->nodes_.push_back(std::move(n));
  }
  for (int i = 0; i < nodes; ++i) {
    Node& n = c->nodes_[i];
    n.argv = {binary, "-js",       "-sd", n.store.string(),
              "-a",   "127.0.0.1", "-p",  std::to_string(n.port),
              "-n",   n.name};
    if (nodes > 1) {
      std::string routes;
      for (int j = 0; j < nodes; ++j) {
        if (j == i) continue;
        routes += (routes.empty() ? "" : ",") + std::string("nats://127.0.0.1:") +
                  std::to_string(c->nodes_[j].cluster_port);
      }
      for (const std::string& a :
           {std::string("--cluster_name"), std::string("inlet"), std::string("--cluster"),
            "nats://127.0.0.1:" + std::to_string(n.cluster_port), std::string("--routes"),
            routes}) {
        n.argv.push_back(a);
      }
    }
    n.log = dir / (n.name + ".log");
    n.process = std::make_unique<Child>(n.argv, n.log);
  }
  Status st = c->WaitReady(std::chrono::seconds(60));
  if (!st.ok()) return Status(st.code(), st.message() + "\n" + c->Logs());
  return c;
}

NatsCluster::~NatsCluster() {
  for (Node& n : nodes_) n.process.reset();  // SIGKILL + reap
}

std::vector<std::string> NatsCluster::urls() const {
  std::vector<std::string> out;
  for (int i = 0; i < nodes(); ++i) out.push_back(url(i));
  return out;
}

std::string NatsCluster::url(int node) const {
  return "nats://127.0.0.1:" + std::to_string(nodes_[node].port);
}

Status NatsCluster::Kill(int node) {
  if (node < 0 || node >= nodes()) return Status::InvalidArgument("no such node");
  Node& n = nodes_[node];
  if (!n.process) return Status::Ok();
  n.process->Kill(SIGKILL);
  n.process->Wait();
  n.process.reset();
  return Status::Ok();
}

Status NatsCluster::Restart(int node) {
  INLET_RETURN_IF_ERROR(Kill(node));
  Node& n = nodes_[node];
  n.log = n.log.parent_path() / (n.name + ".restart" + std::to_string(++restarts_) + ".log");
  n.process = std::make_unique<Child>(n.argv, n.log);
  return Status::Ok();
}

Result<std::string> NatsCluster::Request(const std::string& subject,
                                         std::chrono::milliseconds timeout,
                                         const std::string& body) {
  Status last = Status::Unavailable("no live node");
  for (int i = 0; i < nodes(); ++i) {
    if (!nodes_[i].process) continue;
    natsConnection* nc = nullptr;
    natsOptions* opts = nullptr;
    natsOptions_Create(&opts);
    natsOptions_SetURL(opts, url(i).c_str());
    natsOptions_SetTimeout(opts, 1000);
    natsOptions_SetAllowReconnect(opts, false);
    natsStatus s = natsConnection_Connect(&nc, opts);
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
      last = Status::Unavailable(url(i) + ": " + natsStatus_GetText(s));
      continue;
    }
    natsMsg* reply = nullptr;
    s = natsConnection_RequestString(&reply, nc, subject.c_str(), body.c_str(), timeout.count());
    std::string out;
    if (s == NATS_OK) {
      out.assign(natsMsg_GetData(reply), static_cast<size_t>(natsMsg_GetDataLength(reply)));
      natsMsg_Destroy(reply);
    }
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
    if (s == NATS_OK) return out;
    last = Status::Unavailable(subject + " on " + url(i) + ": " + natsStatus_GetText(s));
  }
  return last;
}

Status NatsCluster::WaitReady(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  Status last = Status::Unavailable("not started");
  while (std::chrono::steady_clock::now() < until) {
    for (const Node& n : nodes_) {
      if (n.process && !n.process->Running())
        return Status::Unavailable("nats-server " + n.name + " exited");
    }
    auto r = Request("$JS.API.INFO", std::chrono::milliseconds(1000));
    if (r.ok() && r->find("\"error\"") == std::string::npos) {
      // Every live node must accept clients too.
      bool all = true;
      for (int i = 0; i < nodes() && all; ++i) {
        if (!nodes_[i].process) continue;
        natsConnection* nc = nullptr;
        all = natsConnection_ConnectTo(&nc, url(i).c_str()) == NATS_OK;
        natsConnection_Destroy(nc);
      }
      if (all && nodes() > 1) {
        // A meta leader is not enough: nats-server 2.10 refuses to place an
        // R3 stream ("no suitable peers for placement") until it knows every
        // peer. Place a probe stream, then remove it.
        const std::string probe =
            "READY_PROBE_" + std::to_string(getpid()) + "_" + std::to_string(++probes_);
        auto created = Request("$JS.API.STREAM.CREATE." + probe, std::chrono::milliseconds(2000),
                               "{\"name\":\"" + probe + "\",\"subjects\":[\"ready-probe." + probe +
                                   "\"],\"num_replicas\":" + std::to_string(nodes()) +
                                   ",\"storage\":\"memory\"}");
        all = created.ok() && created->find("\"error\"") == std::string::npos;
        if (all) {
          (void)Request("$JS.API.STREAM.DELETE." + probe, std::chrono::milliseconds(2000));
        } else {
          r = created.ok() ? Result<std::string>(*created) : created;
        }
      }
      if (all) return Status::Ok();
    }
    last = r.ok() ? Status::Unavailable("JetStream not ready: " + r.value()) : r.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status(StatusCode::kTimeout, "NATS cluster not ready: " + last.message());
}

Result<int> NatsCluster::LeaderOf(const std::string& stream) {
  auto r = Request("$JS.API.STREAM.INFO." + stream, std::chrono::milliseconds(2000));
  if (!r.ok()) return r.status();
  const std::string& text = r.value();
  const std::string key = "\"leader\":\"";
  size_t at = text.find(key);
  if (at == std::string::npos) return Status::NotFound("no leader in: " + text.substr(0, 300));
  at += key.size();
  const std::string name = text.substr(at, text.find('"', at) - at);
  for (int i = 0; i < nodes(); ++i) {
    if (nodes_[i].name == name) return i;
  }
  return Status::NotFound("unknown leader " + name);
}

Status NatsCluster::WaitCurrent(const std::string& stream, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (std::chrono::steady_clock::now() < until) {
    auto r = Request("$JS.API.STREAM.INFO." + stream, std::chrono::milliseconds(2000));
    if (r.ok()) {
      last = r.value();
      size_t current = 0;
      for (size_t at = 0; (at = last.find("\"current\":true", at)) != std::string::npos; ++at)
        ++current;
      if (last.find("\"leader\":\"") != std::string::npos &&
          current + 1 >= static_cast<size_t>(nodes()) &&
          last.find("\"current\":false") == std::string::npos)
        return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status(StatusCode::kTimeout,
                "replicas of " + stream + " not current: " + last.substr(0, 600));
}

std::string NatsCluster::Logs() const {
  std::string out;
  for (const Node& n : nodes_) {
    std::string log = ReadFile(n.log);
    if (log.size() > 4000) log = log.substr(log.size() - 4000);
    out += "--- " + n.name + " (" + n.log.string() + ")\n" + log;
  }
  return out;
}

}  // namespace inlet::testing
