// Binds a subscription's filter policy (JSON text and scope) to the bus: the
// policy is compiled once, at configuration time, into a MessageFilter.
#pragma once

#include <string>

#include "bus/bus_config.h"
#include "common/status.h"

namespace inlet::config {

// Errors are SNS-style validation messages naming the offending key.
Result<bus::MessageFilter> CompileFilter(const std::string& policy_json, const std::string& scope);

}  // namespace inlet::config
