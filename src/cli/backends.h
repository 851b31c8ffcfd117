// Opens the bus and the lake store a configuration names: the embedded log
// or NATS JetStream, a local folder or an S3 bucket. Shared by every command
// that touches them (run, the roles, query, reprocess).
#pragma once

#include <memory>

#include "bus/bus.h"
#include "common/status.h"
#include "config/config.h"
#include "storage/object_store.h"

namespace inlet::cli {

Result<std::unique_ptr<bus::Bus>> OpenBus(const config::Config& config);
Result<std::unique_ptr<storage::ObjectStore>> OpenLake(const config::Config& config);

}  // namespace inlet::cli
