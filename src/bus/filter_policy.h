// FilterPolicy: an SNS subscription filter policy, validated as SNS validates
// it and compiled once into a matcher. Evaluate a message by building one
// PolicyInput per message (bus/filter_input.h) and calling Matches() for the
// policy of every subscription of the topic: nothing is parsed again and the
// evaluation allocates nothing. A compiled policy is immutable and can be
// shared by threads; see docs/filter-policies.md for the policy language.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bus/filter_input.h"
#include "bus/filter_match.h"
#include "common/status.h"

namespace inlet::bus {

// SNS limits on a filter policy.
inline constexpr int kMaxPolicyKeys = 5;
inline constexpr uint64_t kMaxPolicyCombinations = 150;
inline constexpr size_t kMaxPolicyBytes = 256 * 1024;
inline constexpr int kPolicyNumberDecimals = 5;  // digits after the point in numeric bounds

class FilterPolicy {
 public:
  // Validates and compiles `policy_json` for `scope`. On error returns
  // kInvalidArgument with SNS's reason ("FilterPolicy: <reason>") and, where
  // one is at fault, the key path (`(key "detail.state")`). "{}" and "" give
  // the empty policy, which matches every message.
  static Result<FilterPolicy> Compile(std::string_view policy_json,
                                      PolicyScope scope = PolicyScope::kMessageAttributes);

  // True when the message in `input` passes the policy.
  bool Matches(const PolicyInput& input) const;

  PolicyScope scope() const { return scope_; }
  bool empty() const { return conjunctions_.empty(); }
  // Combinations as SNS counts them (at most kMaxPolicyCombinations).
  uint64_t combinations() const { return combinations_; }
  // The leaf key paths the policy reads, without duplicates.
  std::vector<std::string> KeyPaths() const;

 private:
  FilterPolicy() = default;
  friend class PolicyCompiler;

  PolicyScope scope_ = PolicyScope::kMessageAttributes;
  uint64_t combinations_ = 0;
  std::vector<filter_internal::Conjunction> conjunctions_;
};

// `inlet policy test` and POST /v1/policies/test: compiles `policy_json` for
// `scope` and evaluates it against one message: for kMessageAttributes,
// `message` is the attributes JSON in the Publish API form (validated
// strictly); for kMessageBody it is the payload (any text; a body that is
// not a JSON object matches no non-empty policy, as in SNS). Returns whether
// it matches, or the policy's (or attributes') validation error.
Result<bool> TestPolicy(std::string_view policy_json, PolicyScope scope, std::string_view message);

}  // namespace inlet::bus
