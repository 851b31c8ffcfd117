#include "bus/filter_match.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace inlet::bus::filter_internal {
namespace {

// Decodes one UTF-8 sequence at text[i]; an invalid byte decodes as itself
// (length 1) so that any byte string folds deterministically.
uint32_t Decode(std::string_view text, size_t i, size_t* length) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  *length = 1;
  if (b0 < 0x80) return b0;
  int extra = 0;
  uint32_t cp = 0;
  if ((b0 & 0xE0) == 0xC0) {
    extra = 1;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    extra = 2;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    extra = 3;
    cp = b0 & 0x07;
  } else {
    return 0x80000000u | b0;  // invalid lead byte
  }
  if (i + extra >= text.size()) return 0x80000000u | b0;  // truncated
  for (int k = 1; k <= extra; ++k) {
    const unsigned char b = byte(i + k);
    if ((b & 0xC0) != 0x80) return 0x80000000u | b0;
    cp = (cp << 6) | (b & 0x3F);
  }
  *length = 1 + extra;
  return cp;
}

uint32_t FoldCodepoint(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;
  if (cp == 0x178) return 0xFF;
  if (((cp >= 0x100 && cp <= 0x12F) || (cp >= 0x132 && cp <= 0x137) ||
       (cp >= 0x14A && cp <= 0x177)) &&
      cp % 2 == 0) {
    return cp + 1;
  }
  if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) && cp % 2 == 1) {
    return cp + 1;
  }
  if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 32;
  if (cp == 0x386) return 0x3AC;
  if (cp >= 0x388 && cp <= 0x38A) return cp + 37;
  if (cp == 0x38C) return 0x3CC;
  if (cp == 0x38E || cp == 0x38F) return cp + 63;
  if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
  if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
  return cp;
}

// Encodes a (folded) code point; invalid bytes come back as themselves.
size_t Encode(uint32_t cp, char* out) {
  if (cp & 0x80000000u) {
    out[0] = static_cast<char>(cp & 0xFF);
    return 1;
  }
  if (cp < 0x80) {
    out[0] = static_cast<char>(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = static_cast<char>(0xC0 | (cp >> 6));
    out[1] = static_cast<char>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<char>(0xE0 | (cp >> 12));
    out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<char>(0xF0 | (cp >> 18));
  out[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<char>(0x80 | (cp & 0x3F));
  return 4;
}

bool Consistent(const FlatFields& fields, const FlatField& a, const FlatField& b) {
  for (const ArrayPos& p : fields.TrailOf(a)) {
    for (const ArrayPos& q : fields.TrailOf(b)) {
      if (p.array_id == q.array_id && p.index != q.index) return false;
    }
  }
  return true;
}

// Searches one field per condition such that no two chosen fields come from
// different elements of the same array, and no field at an "absent" path is
// compatible with that choice (event-ruler's array consistency).
class ConsistentSolver {
 public:
  ConsistentSolver(const Conjunction& conjunction, const FlatFields& fields)
      : conjunction_(conjunction), fields_(fields) {}

  // Returns true on a match; *exhausted when the step budget ran out.
  bool Run(bool* exhausted) {
    // Most constrained condition first: a condition with one matching field
    // prunes the others' candidates at once.
    const size_t n = conjunction_.keys.size();
    size_t matching[kMaxConditionsPerConjunction];
    for (size_t i = 0; i < n; ++i) {
      order_[i] = i;
      matching[i] = 0;
      const KeyCondition& key = conjunction_.keys[i];
      for (const FlatField& field : fields_.Candidates(key.hash)) {
        matching[i] += key.MatchesField(fields_, field);
      }
    }
    std::stable_sort(order_, order_ + n,
                     [&](size_t a, size_t b) { return matching[a] < matching[b]; });
    const bool found = Solve(0);
    *exhausted = exhausted_;
    return found;
  }

 private:
  // Bounds the search on adversarial messages (huge arrays, many keys).
  static constexpr size_t kStepBudget = 200000;

  bool CompatibleWithChosen(const FlatField& field) const {
    for (size_t i = 0; i < chosen_count_; ++i) {
      if (!Consistent(fields_, field, *chosen_[i])) return false;
    }
    return true;
  }

  bool DeferredAbsent() {
    for (size_t i = 0; i < deferred_count_; ++i) {
      const KeyCondition& key = *deferred_[i];
      for (const FlatField& field : fields_.Candidates(key.hash)) {
        if (++steps_ > kStepBudget) {
          exhausted_ = true;
          return false;
        }
        if (fields_.PathOf(field) == key.path && CompatibleWithChosen(field)) return false;
      }
    }
    return true;
  }

  bool Solve(size_t index) {
    if (exhausted_) return false;
    if (index == conjunction_.keys.size()) return DeferredAbsent();
    const KeyCondition& key = conjunction_.keys[order_[index]];
    for (const FlatField& field : fields_.Candidates(key.hash)) {
      if (++steps_ > kStepBudget) {
        exhausted_ = true;
        return false;
      }
      if (!key.MatchesField(fields_, field) || !CompatibleWithChosen(field)) continue;
      chosen_[chosen_count_++] = &field;
      if (Solve(index + 1)) return true;
      --chosen_count_;
      if (exhausted_) return false;
    }
    if (key.allows_absent) {
      deferred_[deferred_count_++] = &key;
      if (Solve(index + 1)) return true;
      --deferred_count_;
    }
    return false;
  }

  const Conjunction& conjunction_;
  const FlatFields& fields_;
  size_t order_[kMaxConditionsPerConjunction];
  const FlatField* chosen_[kMaxConditionsPerConjunction];
  size_t chosen_count_ = 0;
  const KeyCondition* deferred_[kMaxConditionsPerConjunction];
  size_t deferred_count_ = 0;
  size_t steps_ = 0;
  bool exhausted_ = false;
};

}  // namespace

bool ParseIpAddress(std::string_view text, IpAddress* out) {
  char buffer[64];
  if (text.empty() || text.size() >= sizeof(buffer)) return false;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  *out = IpAddress{};
  if (text.find(':') != std::string_view::npos) {
    out->v6 = true;
    return inet_pton(AF_INET6, buffer, out->bytes) == 1;
  }
  return inet_pton(AF_INET, buffer, out->bytes) == 1;
}

bool IpPrefix::Contains(const IpAddress& address) const {
  if (address.v6 != network.v6) return false;
  const int full_bytes = bits / 8;
  if (std::memcmp(address.bytes, network.bytes, full_bytes) != 0) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (address.bytes[full_bytes] & mask) == (network.bytes[full_bytes] & mask);
}

bool ParseCidr(std::string_view text, IpPrefix* out, std::string* why) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos || text.find('/', slash + 1) != std::string_view::npos) {
    *why = "Malformed CIDR, one '/' required";
    return false;
  }
  const std::string_view address = text.substr(0, slash);
  const std::string_view mask = text.substr(slash + 1);
  int bits = 0;
  if (mask.empty() || mask.size() > 3 ||
      !std::all_of(mask.begin(), mask.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    *why = "Malformed CIDR, mask bits must be an integer";
    return false;
  }
  for (char c : mask) bits = bits * 10 + (c - '0');
  if (!ParseIpAddress(address, &out->network)) {
    *why = "Nonstandard IP address: " + std::string(address);
    return false;
  }
  const int max_bits = out->network.v6 ? 128 : 32;
  if (bits > max_bits) {
    *why = "Malformed CIDR, mask bits must be between 0 and " + std::to_string(max_bits);
    return false;
  }
  out->bits = bits;
  return true;
}

std::string FoldCase(std::string_view text) {
  std::string folded;
  folded.reserve(text.size());
  char buffer[4];
  for (size_t i = 0; i < text.size();) {
    size_t length;
    const uint32_t cp = Decode(text, i, &length);
    folded.append(buffer, Encode(cp & 0x80000000u ? cp : FoldCodepoint(cp), buffer));
    i += length;
  }
  return folded;
}

bool EqualsFolded(std::string_view value, std::string_view folded) {
  size_t position = 0;
  char buffer[4];
  for (size_t i = 0; i < value.size();) {
    size_t length;
    const uint32_t cp = Decode(value, i, &length);
    const size_t n = Encode(cp & 0x80000000u ? cp : FoldCodepoint(cp), buffer);
    if (position + n > folded.size() || std::memcmp(folded.data() + position, buffer, n) != 0) {
      return false;
    }
    position += n;
    i += length;
  }
  return position == folded.size();
}

bool Pattern::Matches(const FlatFields& fields, const FlatField& field) const {
  const bool is_string = field.kind == FieldKind::kString;
  switch (op) {
    case PatternOp::kExactString:
      return is_string && fields.TextOf(field) == text;
    case PatternOp::kExactNumber:
      return field.kind == FieldKind::kNumber && field.number == number;
    case PatternOp::kTrue:
      return field.kind == FieldKind::kTrue;
    case PatternOp::kFalse:
      return field.kind == FieldKind::kFalse;
    case PatternOp::kNull:
      return field.kind == FieldKind::kNull;
    case PatternOp::kPrefix:
      return is_string && fields.TextOf(field).starts_with(text);
    case PatternOp::kSuffix:
      return is_string && fields.TextOf(field).ends_with(text);
    case PatternOp::kEqualsIgnoreCase:
      return is_string && EqualsFolded(fields.TextOf(field), text);
    case PatternOp::kAnythingBut:
      if (is_string) {
        const std::string_view value = fields.TextOf(field);
        return std::find(strings.begin(), strings.end(), value) == strings.end();
      }
      if (field.kind == FieldKind::kNumber) {
        return std::find(numbers.begin(), numbers.end(), field.number) == numbers.end();
      }
      return true;
    case PatternOp::kAnythingButPrefix:
      return !(is_string && fields.TextOf(field).starts_with(text));
    case PatternOp::kNumeric: {
      if (field.kind != FieldKind::kNumber) return false;
      const double v = field.number;
      if (v < -kNumericLimit || v > kNumericLimit) return false;
      if (has_lower && (lower_inclusive ? v < lower : v <= lower)) return false;
      if (has_upper && (upper_inclusive ? v > upper : v >= upper)) return false;
      return true;
    }
    case PatternOp::kExists:
      return true;
    case PatternOp::kCidr: {
      IpAddress address;
      return is_string && ParseIpAddress(fields.TextOf(field), &address) && cidr.Contains(address);
    }
  }
  return false;
}

bool MatchConjunction(const Conjunction& conjunction, const FlatFields& fields) {
  // Each condition on its own first: cheap, and decides every message that
  // has no arrays (or a single condition).
  const bool need_consistency = fields.has_arrays() && conjunction.keys.size() > 1;
  for (const KeyCondition& key : conjunction.keys) {
    bool present = false;
    bool matched = false;
    for (const FlatField& field : fields.Candidates(key.hash)) {
      if (fields.PathOf(field) != key.path) continue;
      present = true;
      if (key.MatchesField(fields, field)) {
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (!key.allows_absent) return false;
    // Absent here, or (with arrays) possibly absent from the chosen elements.
    if (present && !need_consistency) return false;
  }
  if (!need_consistency) return true;
  ConsistentSolver solver(conjunction, fields);
  bool exhausted = false;
  const bool found = solver.Run(&exhausted);
  // Out of budget: keep the per-condition answer (never a false negative).
  return found || exhausted;
}

}  // namespace inlet::bus::filter_internal
