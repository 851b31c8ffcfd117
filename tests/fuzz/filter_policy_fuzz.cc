// libFuzzer target for SNS filter policies: compiles the policy under both
// scopes and evaluates it on the message as body and as attributes.
// Input: one scope byte ('B' = MessageBody, else MessageAttributes), the
// policy JSON, then "\n---\n" and the message (body or attributes JSON).
// Besides sanitizer reports, it traps when an invariant breaks: a compiled
// policy over SNS's complexity limit, or an answer that depends on whether
// the PolicyInput was reused.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bus/filter_policy.h"

namespace {

using inlet::bus::FilterPolicy;
using inlet::bus::PolicyInput;
using inlet::bus::PolicyScope;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 256 * 1024) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const PolicyScope scope =
      in[0] == 'B' ? PolicyScope::kMessageBody : PolicyScope::kMessageAttributes;
  std::string_view rest = in.substr(1);
  std::string_view policy_text = rest;
  std::string_view message;
  if (size_t split = rest.find("\n---\n"); split != std::string_view::npos) {
    policy_text = rest.substr(0, split);
    message = rest.substr(split + 5);
  }

  static PolicyInput reused;  // carries buffers over from earlier inputs
  reused.Reset(message, message);
  for (PolicyScope s : {scope, scope == PolicyScope::kMessageBody ? PolicyScope::kMessageAttributes
                                                                  : PolicyScope::kMessageBody}) {
    inlet::Result<FilterPolicy> policy = FilterPolicy::Compile(policy_text, s);
    if (!policy.ok()) {
      Check(!policy.status().message().empty());
      continue;
    }
    Check(policy->combinations() <= inlet::bus::kMaxPolicyCombinations);
    PolicyInput fresh;
    fresh.Reset(message, message);
    const bool a = policy->Matches(reused);
    const bool b = policy->Matches(fresh);
    Check(a == b);
    Check(policy->Matches(reused) == a);
    (void)policy->KeyPaths();
  }
  (void)inlet::bus::TestPolicy(policy_text, scope, message);
  return 0;
}
