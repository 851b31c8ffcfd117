#include "delivery/prefix_expression.h"

#include <cctype>

#include "schema/time_util.h"
#include "storage/object_store.h"

namespace inlet::delivery {
namespace {

constexpr std::string_view kOpen = "!{";
constexpr int kMaxFractionDigits = 9;
constexpr const char* kMonthShort[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr const char* kMonthLong[] = {"January",   "February", "March",    "April",
                                      "May",       "June",     "July",     "August",
                                      "September", "October",  "November", "December"};

// Parses a DateTimeFormatter pattern into tokens; returns an error message or "".
std::string ParseTimePattern(std::string_view pattern,
                             std::vector<PrefixExpression::TimeToken>* out) {
  if (pattern.empty()) return "empty timestamp pattern";
  size_t i = 0;
  while (i < pattern.size()) {
    char c = pattern[i];
    if (c == '\'') {
      size_t end = pattern.find('\'', i + 1);
      if (end == std::string_view::npos) return "unterminated quote in timestamp pattern";
      std::string lit(pattern.substr(i + 1, end - i - 1));
      out->push_back({0, 0, lit.empty() ? "'" : lit});
      i = end + 1;
      continue;
    }
    if (!std::isalpha(static_cast<unsigned char>(c))) {
      out->push_back({0, 0, std::string(1, c)});
      ++i;
      continue;
    }
    size_t start = i;
    while (i < pattern.size() && pattern[i] == c) ++i;
    int count = static_cast<int>(i - start);
    bool ok = false;
    switch (c) {
      case 'y':
      case 'u':
        ok = count <= 9;
        break;
      case 'M':
      case 'L':
        ok = count <= 4;
        break;
      case 'd':
      case 'H':
      case 'm':
      case 's':
      case 'h':
        ok = count <= 2;
        break;
      case 'D':
        ok = count <= 3;
        break;
      case 'S':
        ok = count <= kMaxFractionDigits;
        break;
      case 'a':
        ok = count == 1;
        break;
      default:
        return std::string("unsupported timestamp letter '") + c +
               "' (supported: y u M L d D H h m s S a, and 'quoted text')";
    }
    if (!ok) return "too many '" + std::string(1, c) + "' in timestamp pattern";
    out->push_back({c == 'u' ? 'y' : (c == 'L' ? 'M' : c), count, {}});
  }
  return "";
}

void AppendPadded(int64_t v, int width, std::string* out) {
  char buf[24];
  char* end = buf + sizeof(buf);
  char* p = end;
  bool negative = v < 0;
  uint64_t u = negative ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  do {
    *--p = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  while (end - p < width && p > buf + 1) *--p = '0';
  if (negative) *--p = '-';
  out->append(p, static_cast<size_t>(end - p));
}

void FormatTokens(const std::vector<PrefixExpression::TimeToken>& tokens, int64_t micros,
                  std::string* out) {
  schema::CivilTime t = schema::CivilFromMicros(micros);
  for (const auto& tok : tokens) {
    switch (tok.letter) {
      case 0:
        out->append(tok.literal);
        break;
      case 'y':
        if (tok.count == 2)
          AppendPadded(((t.year % 100) + 100) % 100, 2, out);
        else
          AppendPadded(t.year, tok.count, out);
        break;
      case 'M':
        if (tok.count == 3)
          out->append(kMonthShort[t.month - 1]);
        else if (tok.count == 4)
          out->append(kMonthLong[t.month - 1]);
        else
          AppendPadded(t.month, tok.count, out);
        break;
      case 'd':
        AppendPadded(t.day, tok.count, out);
        break;
      case 'D':
        AppendPadded(t.day_of_year, tok.count, out);
        break;
      case 'H':
        AppendPadded(t.hour, tok.count, out);
        break;
      case 'h':
        AppendPadded(t.hour % 12 == 0 ? 12 : t.hour % 12, tok.count, out);
        break;
      case 'm':
        AppendPadded(t.minute, tok.count, out);
        break;
      case 's':
        AppendPadded(t.second, tok.count, out);
        break;
      case 'a':
        out->append(t.hour < 12 ? "AM" : "PM");
        break;
      case 'S': {
        std::string nanos;
        AppendPadded(static_cast<int64_t>(t.micros) * 1000, kMaxFractionDigits, &nanos);
        out->append(nanos.substr(0, tok.count));
        break;
      }
    }
  }
}

}  // namespace

std::string EncodePartitionValue(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  bool dots_only = value.find_first_not_of('.') == std::string_view::npos;
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    bool safe = std::isalnum(u) || c == '_' || c == '-' || (c == '.' && !dots_only);
    if (safe) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

std::string FormatTimestamp(std::string_view pattern, int64_t micros_utc) {
  std::vector<PrefixExpression::TimeToken> tokens;
  ParseTimePattern(pattern, &tokens);
  std::string out;
  FormatTokens(tokens, micros_utc, &out);
  return out;
}

Result<PrefixExpression> PrefixExpression::Parse(std::string_view text, PrefixRole role,
                                                 const std::vector<std::string>& key_names) {
  const char* what = role == PrefixRole::kData ? "prefix" : "error prefix";
  auto bad = [&](size_t offset, const std::string& why) {
    return Status::InvalidArgument(std::string(what) + " '" + std::string(text) + "': " + why +
                                   " (at offset " + std::to_string(offset) + ")");
  };
  PrefixExpression e;
  e.text_ = std::string(text);
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find(kOpen, i);
    if (open == std::string_view::npos) open = text.size();
    if (open > i) {
      std::string_view lit = text.substr(i, open - i);
      for (size_t k = 0; k < lit.size(); ++k) {
        unsigned char u = static_cast<unsigned char>(lit[k]);
        if (u < 0x20 || u == 0x7f || lit[k] == '\\' || lit[k] == '{' || lit[k] == '}') {
          return bad(i + k, "character not allowed in a prefix");
        }
      }
      e.segments_.push_back(Segment{Segment::Kind::kLiteral, std::string(lit), {}, -1});
    }
    if (open == text.size()) break;
    size_t close = text.find('}', open);
    if (close == std::string_view::npos) return bad(open, "'!{' without a closing '}'");
    std::string_view body = text.substr(open + 2, close - open - 2);
    size_t colon = body.find(':');
    if (colon == std::string_view::npos) {
      return bad(open, "expected !{namespace:argument}, got !{" + std::string(body) + "}");
    }
    std::string_view ns = body.substr(0, colon);
    std::string_view arg = body.substr(colon + 1);
    Segment seg;
    if (ns == "timestamp") {
      seg.kind = Segment::Kind::kTimestamp;
      std::string err = ParseTimePattern(arg, &seg.time);
      if (!err.empty()) return bad(open, err);
      e.uses_time_ = true;
      for (const TimeToken& tok : seg.time)
        e.uses_subsecond_ = e.uses_subsecond_ || tok.letter == 'S';
    } else if (ns == "partitionKeyFromQuery") {
      if (role == PrefixRole::kError) {
        return bad(open, "partitionKeyFromQuery cannot be used in the error prefix");
      }
      for (size_t k = 0; k < key_names.size(); ++k) {
        if (key_names[k] == arg) seg.key_index = static_cast<int>(k);
      }
      if (seg.key_index < 0) {
        return bad(open,
                   "partition key '" + std::string(arg) + "' is not declared in partition_keys");
      }
      seg.kind = Segment::Kind::kPartitionKey;
      e.uses_keys_ = true;
    } else if (ns == "partitionKeyFromLambda") {
      return bad(open,
                 "partitionKeyFromLambda is not supported (inlet has no Lambda); "
                 "use partitionKeyFromQuery");
    } else if (ns == "firehose") {
      if (arg == "random-string") {
        seg.kind = Segment::Kind::kRandomString;
        e.uses_random_ = true;
      } else if (arg == "error-output-type") {
        if (role == PrefixRole::kData) {
          return bad(open, "firehose:error-output-type can only be used in the error prefix");
        }
        seg.kind = Segment::Kind::kErrorOutputType;
      } else {
        return bad(open, "unknown firehose expression '" + std::string(arg) +
                             "' (expected random-string or error-output-type)");
      }
    } else {
      return bad(open, "unknown expression namespace '" + std::string(ns) +
                           "' (expected timestamp, partitionKeyFromQuery or firehose)");
    }
    e.segments_.push_back(std::move(seg));
    i = close + 1;
  }
  // The expansion must be a valid object-key prefix whatever the values are.
  std::vector<std::string> sample_keys(key_names.size(), "k");
  std::string sample;
  e.Evaluate(PrefixValues{0, &sample_keys, "r", "e"}, &sample);
  if (!sample.empty()) {
    Status st = storage::ValidateObjectKey(sample + "f");
    if (!st.ok()) {
      return Status::InvalidArgument(std::string(what) + " '" + std::string(text) +
                                     "' expands to an invalid key ('" + sample +
                                     "'): no leading "
                                     "'/', no '//', no '.' or '..' segments");
    }
  }
  return e;
}

void PrefixExpression::Evaluate(const PrefixValues& values, std::string* out) const {
  for (const Segment& s : segments_) {
    switch (s.kind) {
      case Segment::Kind::kLiteral:
        out->append(s.literal);
        break;
      case Segment::Kind::kTimestamp:
        FormatTokens(s.time, values.time_us, out);
        break;
      case Segment::Kind::kPartitionKey:
        out->append(EncodePartitionValue((*values.keys)[static_cast<size_t>(s.key_index)]));
        break;
      case Segment::Kind::kRandomString:
        out->append(values.random_string);
        break;
      case Segment::Kind::kErrorOutputType:
        out->append(values.error_output_type);
        break;
    }
  }
}

}  // namespace inlet::delivery
