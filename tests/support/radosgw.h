// RadosGateway: a real, signature-checking S3 server for tests: a one-host
// Ceph cluster (monitor, one OSD on memstore, radosgw) on 127.0.0.1, started
// in a folder by scripts/start-radosgw and stopped by scripts/stop-radosgw
// when the object is destroyed (or, if the test process dies, by a watcher).
// Not thread-safe; one per test binary is plenty.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "common/status.h"

namespace inlet::testing {

class RadosGateway {
 public:
  // True when the Debian packages (ceph-mon, ceph-osd, radosgw, ceph-common)
  // are installed; tests skip otherwise.
  static bool Installed();
  // Starts a cluster in `dir` (created; must not hold one already).
  // `max_put_bytes` > 0 limits single PUTs (radosgw's "rgw max put size"),
  // which lets a test prove that large objects went up in parts.
  static Result<std::unique_ptr<RadosGateway>> Start(const std::filesystem::path& dir,
                                                     uint64_t max_put_bytes = 0);
  ~RadosGateway();
  RadosGateway(const RadosGateway&) = delete;
  RadosGateway& operator=(const RadosGateway&) = delete;

  const std::string& endpoint() const { return endpoint_; }  // "http://127.0.0.1:PORT"
  int port() const { return port_; }
  const std::string& access_key() const { return access_key_; }
  const std::string& secret_key() const { return secret_key_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::chrono::milliseconds start_time() const { return start_time_; }
  // Resident memory of the three daemons, in bytes.
  uint64_t ResidentBytes() const;

  // Stops radosgw alone (the cluster and its data stay) / starts it again and
  // waits until it answers. For retry tests.
  Status StopGateway();
  Status StartGateway();

 private:
  RadosGateway() = default;

  std::filesystem::path dir_;
  std::string endpoint_;
  int port_ = 0;
  std::string access_key_;
  std::string secret_key_;
  std::chrono::milliseconds start_time_{0};
};

}  // namespace inlet::testing
