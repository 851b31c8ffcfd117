#include "bus/filter_policy.h"

#include <algorithm>
#include <cmath>

#include "bus/filter_json.h"
#include "bus/message_attributes.h"

namespace inlet::bus {

using filter_internal::Conjunction;
using filter_internal::KeyCondition;
using filter_internal::Pattern;
using filter_internal::PatternOp;
using simdjson::dom::element;
using simdjson::dom::element_type;

namespace {

constexpr std::string_view kOrKey = "$or";

// The alternatives ($or expanded) of one policy object.
using Alternatives = std::vector<Conjunction>;

std::string ElementText(element value) {
  if (value.is_string()) return std::string(value.get_string().value_unsafe());
  return simdjson::to_string(value);
}

// Saturating arithmetic for the combination count.
uint64_t SatMul(uint64_t a, uint64_t b) {
  constexpr uint64_t kCap = uint64_t{1} << 40;
  if (a == 0 || b == 0) return 0;
  return a > kCap / b ? kCap : a * b;
}
uint64_t SatAdd(uint64_t a, uint64_t b) {
  constexpr uint64_t kCap = uint64_t{1} << 40;
  return std::min(kCap, a + b);
}

bool HasAtMostDecimals(double v, int decimals) {
  const double scaled = v * std::pow(10.0, decimals);
  const double tolerance = std::max(1e-6, std::fabs(scaled) * 1e-15);
  return std::fabs(scaled - std::nearbyint(scaled)) <= tolerance;
}

}  // namespace

// Validates a policy document and expands it into conjunctions. The first
// error in document order wins, as in SNS.
class PolicyCompiler {
 public:
  explicit PolicyCompiler(PolicyScope scope) : scope_(scope) {}

  Result<FilterPolicy> Compile(std::string_view json) {
    FilterPolicy policy;
    policy.scope_ = scope_;
    if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) return policy;
    if (json.size() > kMaxPolicyBytes) {
      return Fail("Filter policy is too large (" + std::to_string(json.size()) +
                  " bytes, at most " + std::to_string(kMaxPolicyBytes) + ")");
    }
    filter_internal::PaddedParser parser;
    element root;
    if (auto error = parser.Parse(json, &root); error) {
      return Fail(std::string("failed to parse JSON: ") + simdjson::error_message(error));
    }
    if (!root.is_object()) return Fail("Filter policy must be a JSON object");
    simdjson::dom::object object = root.get_object().value_unsafe();
    if (object.size() == 0) return policy;

    Alternatives alternatives;
    uint64_t combinations = 0;
    INLET_RETURN_IF_ERROR(CompileObject(object, "", 1, &alternatives, &combinations));
    if (nested_in_attributes_) {
      return Fail("Filter policy scope MessageAttributes does not support nested filter policy",
                  nested_key_);
    }
    int most_keys = 0;
    for (const Conjunction& c : alternatives) most_keys = std::max(most_keys, c.level_keys);
    if (most_keys > kMaxPolicyKeys) {
      return Fail("Filter policy can not have more than " + std::to_string(kMaxPolicyKeys) +
                  " keys (found " + std::to_string(most_keys) + ")");
    }
    if (combinations > kMaxPolicyCombinations) {
      return Fail("Filter policy is too complex (" + std::to_string(combinations) +
                  " combinations, at most " + std::to_string(kMaxPolicyCombinations) + ")");
    }
    for (const Conjunction& c : alternatives) {
      if (c.keys.size() > filter_internal::kMaxConditionsPerConjunction) {
        return Fail("Filter policy is too complex (too many keys)");
      }
    }
    policy.combinations_ = combinations;
    policy.conjunctions_ = std::move(alternatives);
    return policy;
  }

 private:
  static Status Fail(const std::string& reason, std::string_view key = {}) {
    std::string message = "FilterPolicy: " + reason;
    if (!key.empty()) message += " (key \"" + std::string(key) + "\")";
    return Status::InvalidArgument(std::move(message));
  }

  // A later condition on the same path replaces an earlier one: a key inside
  // an $or branch overrides the same key outside it, as in SNS/event-ruler.
  static void AddCondition(Conjunction* c, const KeyCondition& condition) {
    for (KeyCondition& existing : c->keys) {
      if (existing.path == condition.path) {
        existing = condition;
        return;
      }
    }
    c->keys.push_back(condition);
  }

  // Every alternative of `a` combined with every alternative of `b`.
  static Status Cross(Alternatives* a, const Alternatives& b, bool same_level) {
    if (a->size() * b.size() > kMaxPolicyCombinations) {
      return Fail("Filter policy is too complex");
    }
    Alternatives out;
    out.reserve(a->size() * b.size());
    for (const Conjunction& x : *a) {
      for (const Conjunction& y : b) {
        Conjunction c = x;
        for (const KeyCondition& k : y.keys) AddCondition(&c, k);
        c.level_keys = x.level_keys + (same_level ? y.level_keys : 1);
        out.push_back(std::move(c));
      }
    }
    *a = std::move(out);
    return Status::Ok();
  }

  Status CompileObject(simdjson::dom::object object, const std::string& prefix, int depth,
                       Alternatives* out, uint64_t* combinations) {
    *out = Alternatives(1);
    *combinations = 1;
    for (auto [key, value] : object) {
      const std::string path = prefix + std::string(key);
      if (key == kOrKey) {
        simdjson::dom::array branches;
        if (value.get_array().get(branches) || branches.size() == 0) {
          return Fail("$or must be an array of policy objects", path);
        }
        Alternatives any;
        uint64_t branch_sum = 0;
        for (element branch : branches) {
          simdjson::dom::object branch_object;
          if (branch.get_object().get(branch_object) || branch_object.size() == 0) {
            return Fail("$or must be an array of policy objects", path);
          }
          Alternatives branch_alternatives;
          uint64_t branch_combinations = 0;
          INLET_RETURN_IF_ERROR(CompileObject(branch_object, prefix, depth, &branch_alternatives,
                                              &branch_combinations));
          if (any.size() + branch_alternatives.size() > kMaxPolicyCombinations) {
            return Fail("Filter policy is too complex");
          }
          any.insert(any.end(), branch_alternatives.begin(), branch_alternatives.end());
          branch_sum = SatAdd(branch_sum, branch_combinations);
        }
        INLET_RETURN_IF_ERROR(Cross(out, any, /*same_level=*/true));
        *combinations = SatMul(*combinations, branch_sum);
      } else if (value.is_array()) {
        KeyCondition condition;
        condition.path = path;
        condition.hash = PathHash(path);
        simdjson::dom::array values = value.get_array().value_unsafe();
        INLET_RETURN_IF_ERROR(CompileValues(values, path, &condition));
        for (Conjunction& c : *out) {
          AddCondition(&c, condition);
          c.level_keys += 1;
        }
        *combinations = SatMul(*combinations, SatMul(values.size(), depth));
      } else if (value.is_object()) {
        simdjson::dom::object nested = value.get_object().value_unsafe();
        if (nested.size() == 0) return Fail("Empty objects are not allowed", path);
        if (scope_ == PolicyScope::kMessageAttributes && !nested_in_attributes_) {
          nested_in_attributes_ = true;
          nested_key_ = path;
        }
        Alternatives inner;
        uint64_t inner_combinations = 0;
        INLET_RETURN_IF_ERROR(
            CompileObject(nested, path + ".", depth + 1, &inner, &inner_combinations));
        INLET_RETURN_IF_ERROR(Cross(out, inner, /*same_level=*/false));
        *combinations = SatMul(*combinations, inner_combinations);
      } else {
        return Fail("\"" + std::string(key) + "\" must be an object or an array", path);
      }
    }
    return Status::Ok();
  }

  Status CompileValues(simdjson::dom::array values, const std::string& path,
                       KeyCondition* condition) {
    if (values.size() == 0) return Fail("Empty arrays are not allowed", path);
    for (element value : values) {
      Pattern pattern;
      switch (value.type()) {
        case element_type::STRING:
          pattern.op = PatternOp::kExactString;
          pattern.text = std::string(value.get_string().value_unsafe());
          break;
        case element_type::INT64:
        case element_type::UINT64:
        case element_type::DOUBLE:
          pattern.op = PatternOp::kExactNumber;
          pattern.number = value.get_double().value_unsafe();
          break;
        case element_type::BOOL:
          pattern.op = value.get_bool().value_unsafe() ? PatternOp::kTrue : PatternOp::kFalse;
          break;
        case element_type::NULL_VALUE:
          pattern.op = PatternOp::kNull;
          break;
        case element_type::ARRAY:
          return Fail("Match value must be String, number, true, false, or null", path);
        case element_type::OBJECT: {
          bool is_absent = false;
          INLET_RETURN_IF_ERROR(
              CompileOperator(value.get_object().value_unsafe(), path, &pattern, &is_absent));
          if (is_absent) {
            condition->allows_absent = true;
            continue;
          }
          break;
        }
      }
      condition->patterns.push_back(std::move(pattern));
    }
    return Status::Ok();
  }

  static Status StringOperand(element value, std::string_view name, const std::string& path,
                              std::string* out) {
    if (!value.is_string()) {
      return Fail(std::string(name) + " match pattern must be a string", path);
    }
    *out = std::string(value.get_string().value_unsafe());
    return Status::Ok();
  }

  Status CompileOperator(simdjson::dom::object object, const std::string& path, Pattern* pattern,
                         bool* is_absent) {
    if (object.size() == 0) return Fail("Empty objects are not allowed", path);
    if (object.size() > 1) return Fail("Only one key allowed in match expression", path);
    auto [op, operand] = *object.begin();
    if (op == "prefix") {
      pattern->op = PatternOp::kPrefix;
      return StringOperand(operand, "prefix", path, &pattern->text);
    }
    if (op == "suffix") {
      pattern->op = PatternOp::kSuffix;
      return StringOperand(operand, "suffix", path, &pattern->text);
    }
    if (op == "equals-ignore-case") {
      pattern->op = PatternOp::kEqualsIgnoreCase;
      INLET_RETURN_IF_ERROR(StringOperand(operand, "equals-ignore-case", path, &pattern->text));
      pattern->text = filter_internal::FoldCase(pattern->text);
      return Status::Ok();
    }
    if (op == "exists") {
      if (!operand.is_bool()) {
        return Fail("exists match pattern must be either true or false.", path);
      }
      pattern->op = PatternOp::kExists;
      *is_absent = !operand.get_bool().value_unsafe();
      return Status::Ok();
    }
    if (op == "cidr") {
      pattern->op = PatternOp::kCidr;
      std::string text;
      // SNS words a non-string cidr operand like a prefix one.
      INLET_RETURN_IF_ERROR(StringOperand(operand, "prefix", path, &text));
      std::string why;
      if (!filter_internal::ParseCidr(text, &pattern->cidr, &why)) return Fail(why, path);
      return Status::Ok();
    }
    if (op == "numeric") return CompileNumeric(operand, path, pattern);
    if (op == "anything-but") return CompileAnythingBut(operand, path, pattern);
    return Fail("Unrecognized match type " + std::string(op), path);
  }

  static Status CompileAnythingBut(element operand, const std::string& path, Pattern* pattern) {
    pattern->op = PatternOp::kAnythingBut;
    auto add = [&](element value) -> Status {
      if (value.is_string()) {
        pattern->strings.emplace_back(value.get_string().value_unsafe());
      } else if (value.is_number()) {
        pattern->numbers.push_back(value.get_double().value_unsafe());
      } else {
        return Fail("Inside anything-but list, only strings and numbers are allowed", path);
      }
      return Status::Ok();
    };
    switch (operand.type()) {
      case element_type::ARRAY: {
        simdjson::dom::array values = operand.get_array().value_unsafe();
        if (values.size() == 0) return Fail("Empty arrays are not allowed", path);
        for (element value : values) INLET_RETURN_IF_ERROR(add(value));
        return Status::Ok();
      }
      case element_type::OBJECT: {
        simdjson::dom::object object = operand.get_object().value_unsafe();
        if (object.size() != 1) return Fail("Only one key allowed in match expression", path);
        auto [op, value] = *object.begin();
        if (op != "prefix")
          return Fail("Unsupported anything-but pattern: " + std::string(op), path);
        pattern->op = PatternOp::kAnythingButPrefix;
        return StringOperand(value, "prefix", path, &pattern->text);
      }
      case element_type::BOOL:
      case element_type::NULL_VALUE:
        return Fail("anything-but takes a string, a number, a list of them or a prefix", path);
      default:
        return add(operand);
    }
  }

  static Status NumericOperand(simdjson::dom::array items, size_t i, std::string_view op,
                               const std::string& path, double* out) {
    const std::string name = op == "=" ? "equals" : std::string(op);
    if (i >= items.size() || !items.at(i).value_unsafe().is_number()) {
      return Fail("Value of " + name + " must be numeric", path);
    }
    *out = items.at(i).value_unsafe().get_double().value_unsafe();
    if (std::fabs(*out) > filter_internal::kNumericLimit ||
        !HasAtMostDecimals(*out, kPolicyNumberDecimals)) {
      return Fail("Value of " + name + " must be between -1000000000 and 1000000000 with at most " +
                      std::to_string(kPolicyNumberDecimals) +
                      " digits after the decimal point: " + ElementText(items.at(i).value_unsafe()),
                  path);
    }
    return Status::Ok();
  }

  static Status CompileNumeric(element operand, const std::string& path, Pattern* pattern) {
    pattern->op = PatternOp::kNumeric;
    simdjson::dom::array items;
    if (operand.get_array().get(items)) {
      return Fail("Value of numeric must be an array", path);
    }
    if (items.size() == 0) return Fail("Invalid member in numeric match: ]", path);
    element first = items.at(0).value_unsafe();
    if (!first.is_string()) {
      return Fail("Invalid member in numeric match: " + ElementText(first), path);
    }
    const std::string_view op = first.get_string().value_unsafe();
    const bool is_equals = op == "=";
    const bool is_upper = op == "<" || op == "<=";
    const bool is_lower = op == ">" || op == ">=";
    if (!is_equals && !is_upper && !is_lower) {
      return Fail("Unrecognized numeric range operator: " + std::string(op), path);
    }
    double v = 0;
    INLET_RETURN_IF_ERROR(NumericOperand(items, 1, op, path, &v));
    if (is_equals || is_upper) {
      if (items.size() > 2) return Fail("Too many elements in numeric expression", path);
      if (is_equals || op == "<=") pattern->upper_inclusive = true;
      if (is_equals) pattern->lower_inclusive = true;
      pattern->has_upper = true;
      pattern->upper = v;
      if (is_equals) {
        pattern->has_lower = true;
        pattern->lower = v;
      }
      return Status::Ok();
    }
    pattern->has_lower = true;
    pattern->lower = v;
    pattern->lower_inclusive = op == ">=";
    if (items.size() == 2) return Status::Ok();
    element second = items.at(2).value_unsafe();
    if (!second.is_string()) {
      return Fail("Bad value in numeric range: " + ElementText(second), path);
    }
    const std::string_view op2 = second.get_string().value_unsafe();
    if (op2 != "<" && op2 != "<=") {
      return Fail("Bad numeric range operator: " + std::string(op2), path);
    }
    INLET_RETURN_IF_ERROR(NumericOperand(items, 3, op2, path, &pattern->upper));
    pattern->has_upper = true;
    pattern->upper_inclusive = op2 == "<=";
    if (!(pattern->lower < pattern->upper)) return Fail("Bottom must be less than top", path);
    if (items.size() > 4) return Fail("Too many terms in numeric range expression", path);
    return Status::Ok();
  }

  PolicyScope scope_;
  bool nested_in_attributes_ = false;
  std::string nested_key_;
};

Result<FilterPolicy> FilterPolicy::Compile(std::string_view policy_json, PolicyScope scope) {
  return PolicyCompiler(scope).Compile(policy_json);
}

bool FilterPolicy::Matches(const PolicyInput& input) const {
  if (conjunctions_.empty()) return true;
  const FlatFields& fields = input.Fields(scope_);
  if (!fields.usable()) return false;
  for (const Conjunction& conjunction : conjunctions_) {
    if (filter_internal::MatchConjunction(conjunction, fields)) return true;
  }
  return false;
}

std::vector<std::string> FilterPolicy::KeyPaths() const {
  std::vector<std::string> paths;
  for (const Conjunction& c : conjunctions_) {
    for (const KeyCondition& k : c.keys) {
      if (std::find(paths.begin(), paths.end(), k.path) == paths.end()) paths.push_back(k.path);
    }
  }
  return paths;
}

Result<bool> TestPolicy(std::string_view policy_json, PolicyScope scope, std::string_view message) {
  Result<FilterPolicy> policy = FilterPolicy::Compile(policy_json, scope);
  if (!policy.ok()) return policy.status();
  PolicyInput input;
  if (scope == PolicyScope::kMessageAttributes) {
    MessageAttributesReader reader;
    std::vector<MessageAttribute> attributes;
    INLET_RETURN_IF_ERROR(reader.Read(message, /*strict=*/true, &attributes));
    input.Reset(message, {});
  } else {
    input.Reset({}, message);
  }
  return policy->Matches(input);
}

}  // namespace inlet::bus
