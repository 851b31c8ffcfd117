#include "process/masker.h"

#include <arpa/inet.h>
#include <openssl/rand.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <sstream>

#include "common/file_util.h"
#include "process/event_validator.h"
#include "schema/time_util.h"

namespace inlet::process {
namespace {

constexpr size_t kPseudonymHexChars = 32;

bool IsUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

std::string HmacSha256Hex(std::string_view key, std::string_view value, size_t hex_chars) {
  const Sha256Digest d = HmacSha256(key).Mac(value);
  return HexLower(d.data(), d.size(), hex_chars);
}

std::string PartialMask(std::string_view value, uint32_t first, uint32_t last) {
  std::vector<size_t> starts;  // byte offset of each code point
  for (size_t i = 0; i < value.size(); ++i) {
    if (!IsUtf8Continuation(value[i])) starts.push_back(i);
  }
  const size_t n = starts.size();
  if (n <= static_cast<size_t>(first) + last) return std::string(n, '*');
  std::string out(value.substr(0, starts[first]));
  out.append(n - first - last, '*');
  if (last > 0) out.append(value.substr(starts[n - last]));
  return out;
}

std::optional<std::string> TruncateIp(std::string_view ip, uint32_t v4_prefix, uint32_t v6_prefix) {
  unsigned char addr[16];
  int family = AF_INET;
  size_t bytes = 4;
  uint32_t prefix = v4_prefix;
  if (!ParseIpv4(ip, addr)) {  // in place; IPv6 needs inet_pton and a NUL-terminated copy
    if (ip.empty() || ip.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    char buf[INET6_ADDRSTRLEN];
    memcpy(buf, ip.data(), ip.size());
    buf[ip.size()] = 0;
    if (inet_pton(AF_INET6, buf, addr) != 1) return std::nullopt;
    family = AF_INET6, bytes = 16, prefix = v6_prefix;
  }
  for (size_t i = 0; i < bytes; ++i) {
    int keep = static_cast<int>(prefix) - static_cast<int>(i * 8);
    if (keep <= 0)
      addr[i] = 0;
    else if (keep < 8)
      addr[i] &= static_cast<unsigned char>(0xFF << (8 - keep));
  }
  if (family == AF_INET) {  // dotted quad by hand: inet_ntop formats through sprintf
    std::string out;
    out.reserve(15);
    for (size_t i = 0; i < 4; ++i) {
      if (i > 0) out.push_back('.');
      const unsigned v = addr[i];
      if (v >= 100) out.push_back(static_cast<char>('0' + v / 100));
      if (v >= 10) out.push_back(static_cast<char>('0' + v / 10 % 10));
      out.push_back(static_cast<char>('0' + v % 10));
    }
    return out;
  }
  char out[INET6_ADDRSTRLEN];
  if (!inet_ntop(family, addr, out, sizeof out)) return std::nullopt;
  return std::string(out);
}

int64_t TruncateTime(int64_t micros, std::string_view unit) {
  int64_t step = schema::kMicrosPerSecond;
  if (unit == "minute")
    step *= 60;
  else if (unit == "hour")
    step *= 3600;
  else if (unit == "day")
    step = schema::kMicrosPerDay;
  int64_t q = micros / step;
  if (micros % step < 0) --q;
  return q * step;
}

void CoarsenLocation(double grid_m, double* lat, double* lon) {
  const double meters_per_degree = kEarthRadiusMeters * std::numbers::pi / 180.0;
  const double lat_step = grid_m / meters_per_degree;
  double la = (std::floor((*lat + 90.0) / lat_step) + 0.5) * lat_step - 90.0;
  la = std::clamp(la, -90.0, 90.0);
  const double c = std::cos(la * std::numbers::pi / 180.0);
  double lo = 0;
  if (c > 1e-9) {
    const double lon_step = std::min(360.0, grid_m / (meters_per_degree * c));
    lo = (std::floor((*lon + 180.0) / lon_step) + 0.5) * lon_step - 180.0;
    lo = std::clamp(lo, -180.0, 180.0);
  }
  *lat = la;
  *lon = lo;
}

bool LuhnValid(std::string_view digits) {
  int sum = 0, n = 0;
  for (size_t i = digits.size(); i-- > 0;) {
    char ch = digits[i];
    if (ch == ' ' || ch == '-') continue;
    if (ch < '0' || ch > '9') return false;
    int d = ch - '0';
    if (n % 2 == 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
    ++n;
  }
  return n >= 13 && n <= 19 && sum % 10 == 0;
}

bool IbanValid(std::string_view iban) {
  std::string s;
  for (char c : iban) {
    if (c != ' ') s.push_back(static_cast<char>(toupper(static_cast<unsigned char>(c))));
  }
  if (s.size() < 15 || s.size() > 34) return false;
  std::string r = s.substr(4) + s.substr(0, 4);
  int mod = 0;
  for (char c : r) {
    if (isdigit(static_cast<unsigned char>(c))) {
      mod = (mod * 10 + (c - '0')) % 97;
    } else if (c >= 'A' && c <= 'Z') {
      mod = (mod * 100 + (c - 'A' + 10)) % 97;
    } else {
      return false;
    }
  }
  return mod == 1;
}

PiiDetector::PiiDetector()
    : email_(R"(([A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}))"),
      iban_(R"(\b([A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)\b)"),
      card_(R"(\b((?:[0-9][ \-]?){12,18}[0-9])\b)"),
      phone_(R"((\+?[0-9][0-9 ().\-]{6,}[0-9]))") {}

int PiiDetector::Redact(std::string* text) const {
  int count = 0;
  struct Pass {
    const RE2* re;
    const char* label;
    int kind;  // 0 none, 1 luhn, 2 iban, 3 phone (at least 7 digits)
  };
  const Pass passes[] = {{&email_, "<EMAIL>", 0},
                         {&iban_, "<IBAN>", 2},
                         {&card_, "<CARD>", 1},
                         {&phone_, "<PHONE>", 3}};
  for (const Pass& p : passes) {
    std::string out;
    std::string_view in(*text);
    size_t pos = 0;
    bool changed = false;
    re2::StringPiece match;
    const re2::StringPiece input(in.data(), in.size());
    while (pos <= in.size() && p.re->Match(input, pos, in.size(), RE2::UNANCHORED, &match, 1)) {
      std::string_view m(match.data(), match.size());
      size_t start = m.data() - in.data();
      bool ok = true;
      if (p.kind == 1) ok = LuhnValid(m);
      if (p.kind == 2) ok = IbanValid(m);
      if (p.kind == 3) {
        int digits = 0;
        for (char c : m) digits += isdigit(static_cast<unsigned char>(c)) ? 1 : 0;
        ok = digits >= 7 && digits <= 15;
      }
      out.append(in.substr(pos, start - pos));
      if (ok) {
        out.append(p.label);
        ++count;
        changed = true;
      } else {
        out.append(m);
      }
      pos = start + std::max<size_t>(m.size(), 1);
      if (m.empty()) out.append(in.substr(start, 1));
    }
    if (changed) {
      if (pos < in.size()) out.append(in.substr(pos));
      *text = std::move(out);
    }
  }
  return count;
}

Result<std::string> LoadPseudonymKey(const MaskingConfig& config) {
  std::string key;
  if (!config.key_file.empty()) {
    if (config.create_key && !std::filesystem::exists(config.key_file)) {
      unsigned char raw[32];
      if (RAND_bytes(raw, sizeof(raw)) != 1)
        return Status::Internal("no randomness for a pseudonym key");
      static const char* kHex = "0123456789abcdef";
      std::string hex;
      for (unsigned char b : raw) {
        hex += kHex[b >> 4];
        hex += kHex[b & 15];
      }
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(config.key_file).parent_path(), ec);
      INLET_RETURN_IF_ERROR(AtomicWriteFile(config.key_file, hex));
      std::filesystem::permissions(
          config.key_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
          ec);
    }
    std::ifstream in(config.key_file, std::ios::binary);
    if (!in) return Status::NotFound("cannot read pseudonym key file " + config.key_file);
    std::ostringstream ss;
    ss << in.rdbuf();
    key = ss.str();
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  } else if (!config.key_env.empty()) {
    const char* v = std::getenv(config.key_env.c_str());
    if (!v)
      return Status::NotFound("environment variable " + config.key_env +
                              " (pseudonym key) is not set");
    key = v;
  } else {
    return std::string();
  }
  if (key.size() < 16)
    return Status::InvalidArgument("the pseudonym key must have at least 16 bytes");
  return key;
}

Result<std::unique_ptr<Masker>> Masker::Create(const MaskingConfig& config,
                                               const std::vector<FlatColumn>& flat_columns,
                                               const std::vector<int>& age_bands, std::string key) {
  auto m = std::unique_ptr<Masker>(new Masker());
  m->bands_ = AgeBands(age_bands);
  if (!key.empty()) m->hmac_.emplace(key);  // only the pads derived from the key are kept
  m->key_id_ = config.key_id;
  auto index = [&](const std::string& name) {
    for (size_t i = 0; i < flat_columns.size(); ++i) {
      if (flat_columns[i].name == name) return static_cast<int>(i);
    }
    return -1;
  };
  std::vector<FlatType> types;
  std::vector<bool> dropped(flat_columns.size(), false);
  for (const auto& c : flat_columns) types.push_back(c.type);
  for (const MaskRule& r : config.rules) {
    Rule rule{r, index(r.column), -1, FlatType::kString};
    if (rule.column < 0)
      return Status::InvalidArgument("masking: no mapped column '" + r.column + "'");
    FlatType& t = types[rule.column];
    rule.input_type = t;
    switch (r.op) {
      case MaskOp::kPseudonym:
        if (!m->hmac_)
          return Status::InvalidArgument("masking: pseudonym of '" + r.column + "' needs a key");
        m->records_key_id_ = true;
        t = FlatType::kString;
        break;
      case MaskOp::kHash:
      case MaskOp::kReplace:
      case MaskOp::kPartial:
      case MaskOp::kTruncateIp:
      case MaskOp::kDetectPii:
        if (r.op == MaskOp::kDetectPii && !m->pii_) m->pii_ = std::make_unique<PiiDetector>();
        t = FlatType::kString;
        break;
      case MaskOp::kGeneralizeAge:
        if (t != FlatType::kBigint && t != FlatType::kDouble) {
          return Status::InvalidArgument("masking: generalize_age of '" + r.column +
                                         "' needs a number column");
        }
        t = FlatType::kString;
        break;
      case MaskOp::kTruncateTime:
        if (t != FlatType::kTimestamp) {
          return Status::InvalidArgument("masking: truncate_time of '" + r.column +
                                         "' needs a timestamp column");
        }
        break;
      case MaskOp::kCoarsenLocation:
        rule.lon_column = index(r.lon_column);
        if (rule.lon_column < 0 || t != FlatType::kDouble ||
            types[rule.lon_column] != FlatType::kDouble) {
          return Status::InvalidArgument("masking: coarsen_location needs two double columns (" +
                                         r.column + ", lon_column)");
        }
        break;
      case MaskOp::kRedact:
        break;
      case MaskOp::kDrop:
        dropped[rule.column] = true;
        break;
    }
    m->rules_.push_back(std::move(rule));
  }
  for (size_t i = 0; i < flat_columns.size(); ++i) {
    if (dropped[i]) continue;
    m->output_columns_.push_back({flat_columns[i].name, types[i]});
    m->output_sources_.push_back(static_cast<int>(i));
  }
  if (m->records_key_id_) m->output_columns_.push_back({"_key_id", FlatType::kString});
  return m;
}

void Masker::Pseudonym(std::string_view value, std::string* out) {
  const auto p = pseudonyms_.Get(value, [this](std::string_view v) {
    const Sha256Digest d = hmac_->Mac(v);
    std::array<uint8_t, 16> first;
    std::copy_n(d.begin(), first.size(), first.begin());
    return first;
  });
  HexLowerTo(p.data(), p.size(), out, kPseudonymHexChars);  // after the last read of value
}

void Masker::Hash(std::string_view value, std::string* out) {
  const Sha256Digest d = hashes_.Get(value, [](std::string_view v) { return Sha256(v); });
  HexLowerTo(d.data(), d.size(), out);
}

void Masker::Prefetch(const FlatRow& row) const {
  for (const Rule& r : rules_) {
    const Value& v = row.values[r.column];
    if (!v.valid || r.input_type != FlatType::kString) continue;
    if (r.rule.op == MaskOp::kPseudonym) pseudonyms_.Prefetch(v.s);
    if (r.rule.op == MaskOp::kHash) hashes_.Prefetch(v.s);
  }
}

void Masker::Apply(FlatRow* row) {
  for (const Rule& r : rules_) {
    Value& v = row->values[r.column];
    if (!v.valid && r.rule.op != MaskOp::kReplace) continue;
    switch (r.rule.op) {
      case MaskOp::kPseudonym: {
        // Values of non-string columns are pseudonymised as their decimal text.
        // The hex is written over the value in place (no string per event).
        if (r.input_type == FlatType::kString) {
          Pseudonym(v.s, &v.s);
        } else {
          Pseudonym(r.input_type == FlatType::kDouble ? std::to_string(v.d) : std::to_string(v.i),
                    &v.s);
        }
        v.valid = true;
        break;
      }
      case MaskOp::kHash:
        if (r.input_type == FlatType::kString) {
          Hash(v.s, &v.s);
        } else {
          Hash(r.input_type == FlatType::kDouble ? std::to_string(v.d) : std::to_string(v.i), &v.s);
        }
        v.valid = true;
        break;
      case MaskOp::kRedact:
      case MaskOp::kDrop:
        v.SetNull();
        v.s.clear();
        v.i = 0;
        v.d = 0;
        break;
      case MaskOp::kReplace:
        v.SetString(r.rule.with);
        break;
      case MaskOp::kPartial:
        v.SetString(PartialMask(v.s, r.rule.keep_first, r.rule.keep_last));
        break;
      case MaskOp::kGeneralizeAge: {
        int band = bands_.Band(
            r.input_type == FlatType::kDouble ? static_cast<int64_t>(std::floor(v.d)) : v.i);
        v.SetString(bands_.labels()[band]);
        break;
      }
      case MaskOp::kTruncateTime:
        v.i = TruncateTime(v.i, r.rule.unit);
        break;
      case MaskOp::kTruncateIp: {
        auto t = TruncateIp(v.s, r.rule.ipv4_prefix, r.rule.ipv6_prefix);
        if (t)
          v.SetString(*t);
        else
          v.SetNull();
        break;
      }
      case MaskOp::kCoarsenLocation: {
        Value& lon = row->values[r.lon_column];
        if (!lon.valid) break;
        CoarsenLocation(r.rule.grid_m, &v.d, &lon.d);
        break;
      }
      case MaskOp::kDetectPii:
        pii_->Redact(&v.s);
        break;
    }
  }
}

}  // namespace inlet::process
