#include "config/filter_binding.h"

namespace inlet::config {

Result<bus::MessageFilter> CompileFilter(const std::string& policy_json, const std::string& scope) {
  (void)policy_json;
  (void)scope;
  return Status::Unsupported("filter policies are not available in this build yet");
}

}  // namespace inlet::config
