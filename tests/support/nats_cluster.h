// NatsCluster: a NATS JetStream cluster of 1 or 3 nats-server processes on
// loopback for tests (free ports, a store folder per node under `dir`,
// cluster routes between the nodes). Nodes can be SIGKILLed and restarted
// with their stores. The destructor kills every node. Not thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "support/test_support.h"

namespace inlet::testing {

class NatsCluster {
 public:
  // The nats-server binary ("" when not installed: tests skip).
  static std::string ServerBinary();
  // Starts `nodes` servers and waits until JetStream has a meta leader.
  static Result<std::unique_ptr<NatsCluster>> Start(const std::filesystem::path& dir, int nodes);
  ~NatsCluster();

  // nats://127.0.0.1:<port> of every node, in node order.
  std::vector<std::string> urls() const;
  std::string url(int node) const;
  int nodes() const { return static_cast<int>(nodes_.size()); }
  Status Kill(int node);     // SIGKILL
  Status Restart(int node);  // same ports and store
  // Index of the node leading `stream` (asked through any live node).
  Result<int> LeaderOf(const std::string& stream);
  // Waits until `stream` has a leader and every other node is a current
  // replica (caught up): R3 tolerates one failure at a time.
  Status WaitCurrent(const std::string& stream, std::chrono::milliseconds timeout);
  // Waits until JetStream answers API requests (a meta leader exists) and,
  // with 3 nodes, can place a replicated stream.
  Status WaitReady(std::chrono::milliseconds timeout);
  // Server logs, for failure messages.
  std::string Logs() const;

 private:
  struct Node {
    std::string name;
    int port = 0;
    int cluster_port = 0;
    std::filesystem::path store;
    std::filesystem::path log;
    std::vector<std::string> argv;
    std::unique_ptr<Child> process;
  };
  NatsCluster() = default;
  static Result<std::unique_ptr<NatsCluster>> StartOnce(const std::filesystem::path& dir,
                                                        int nodes);
  Result<std::string> Request(const std::string& subject, std::chrono::milliseconds timeout,
                              const std::string& body = "");

  std::vector<Node> nodes_;
  int restarts_ = 0;
  int probes_ = 0;  // probe streams placed by WaitReady
};

}  // namespace inlet::testing
