// Binds a subscription's filter policy (JSON text and scope) to the bus: the
// policy is compiled once, at configuration time, into a MessageFilter.
#pragma once

#include <memory>
#include <string>

#include "bus/filter_policy.h"
#include "common/status.h"

namespace inlet::config {

// Errors are SNS-style validation messages naming the offending key.
Result<std::shared_ptr<const bus::FilterPolicy>> CompileFilter(const std::string& policy_json,
                                                               const std::string& scope);

}  // namespace inlet::config
