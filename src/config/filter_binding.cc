#include "config/filter_binding.h"

namespace inlet::config {

Result<std::shared_ptr<const bus::FilterPolicy>> CompileFilter(const std::string& policy_json,
                                                               const std::string& scope) {
  auto parsed_scope = bus::ParsePolicyScope(scope);
  if (!parsed_scope.ok()) return parsed_scope.status();
  auto policy = bus::FilterPolicy::Compile(policy_json, parsed_scope.value());
  if (!policy.ok()) return policy.status();
  return std::make_shared<const bus::FilterPolicy>(std::move(policy).value());
}

}  // namespace inlet::config
