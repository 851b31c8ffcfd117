// Internal to FilterPolicy: the compiled form of a policy and its evaluation
// against a message's flattened fields. A policy is compiled into a
// disjunction of conjunctions ($or expanded); each conjunction holds one
// condition per leaf key path; each condition is a disjunction of patterns.
// Immutable once built; evaluation allocates nothing and is thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bus/filter_input.h"

namespace inlet::bus::filter_internal {

// An IPv4 or IPv6 address in network byte order (IPv4 uses the first 4 bytes).
struct IpAddress {
  uint8_t bytes[16] = {};
  bool v6 = false;
};
// Parses a textual IPv4 (dotted quad) or IPv6 address.
bool ParseIpAddress(std::string_view text, IpAddress* out);

struct IpPrefix {
  IpAddress network;
  int bits = 0;
  bool Contains(const IpAddress& address) const;
};
// Parses "address/bits"; on failure returns false with the SNS reason in *why.
bool ParseCidr(std::string_view text, IpPrefix* out, std::string* why);

// Simple Unicode lower-casing for equals-ignore-case (ASCII, Latin-1,
// Latin Extended-A, Greek, Cyrillic); other characters compare as they are.
std::string FoldCase(std::string_view text);
// True when `value` folded equals `folded` (already folded by FoldCase).
bool EqualsFolded(std::string_view value, std::string_view folded);

enum class PatternOp : uint8_t {
  kExactString,
  kExactNumber,
  kTrue,
  kFalse,
  kNull,
  kPrefix,
  kSuffix,
  kEqualsIgnoreCase,  // text holds the folded operand
  kAnythingBut,       // strings / numbers hold the excluded values
  kAnythingButPrefix,
  kNumeric,
  kExists,  // exists: true (exists: false is KeyCondition::allows_absent)
  kCidr,
};

struct Pattern {
  PatternOp op = PatternOp::kExactString;
  std::string text;
  double number = 0;
  // kNumeric: a lower and/or an upper bound ("=" sets both, inclusive).
  bool has_lower = false, has_upper = false;
  bool lower_inclusive = false, upper_inclusive = false;
  double lower = 0, upper = 0;
  std::vector<std::string> strings;  // kAnythingBut
  std::vector<double> numbers;       // kAnythingBut
  IpPrefix cidr;

  bool Matches(const FlatFields& fields, const FlatField& field) const;
};

// One leaf key path of a conjunction: some field at `path` matches one of
// `patterns`, or (allows_absent) no field at `path` exists.
struct KeyCondition {
  std::string path;
  uint64_t hash = 0;
  std::vector<Pattern> patterns;
  bool allows_absent = false;

  bool MatchesField(const FlatFields& fields, const FlatField& field) const {
    if (fields.PathOf(field) != path) return false;
    for (const Pattern& p : patterns) {
      if (p.Matches(fields, field)) return true;
    }
    return false;
  }
};

struct Conjunction {
  std::vector<KeyCondition> keys;
  int level_keys = 0;  // keys at the policy's top level (for the 5-key limit)
};

// Most leaf conditions one conjunction can hold (far above what the SNS
// limits allow); keeps evaluation state on the stack.
inline constexpr size_t kMaxConditionsPerConjunction = 64;

bool MatchConjunction(const Conjunction& conjunction, const FlatFields& fields);

// Numbers outside this range never satisfy a numeric condition (SNS).
inline constexpr double kNumericLimit = 1e9;

}  // namespace inlet::bus::filter_internal
