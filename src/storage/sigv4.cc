#include "storage/sigv4.h"

#include <algorithm>
#include <map>

#include "common/sha256.h"

namespace inlet::storage::sigv4 {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Trims both ends and collapses runs of spaces inside, as SigV4 requires for
// canonical header values.
std::string CanonicalHeaderValue(std::string_view v) {
  std::string out;
  bool pending_space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string HexEncode(std::string_view bytes) {
  return HexLower(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  const Sha256Digest d = ::inlet::HmacSha256(key).Mac(data);
  return std::string(d.begin(), d.end());
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (unsigned char c : s) {
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

std::string CanonicalQueryString(const Params& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string AmzDate(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string CanonicalRequest(const Request& request, std::string* signed_headers) {
  // Lowercase names, sorted; repeated headers are joined with ','.
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : request.headers) {
    std::string& slot = headers[Lower(name)];
    if (!slot.empty()) slot.push_back(',');
    slot += CanonicalHeaderValue(value);
  }
  std::string canonical_headers;
  signed_headers->clear();
  for (const auto& [name, value] : headers) {
    canonical_headers += name + ":" + value + "\n";
    if (!signed_headers->empty()) signed_headers->push_back(';');
    *signed_headers += name;
  }
  std::string out;
  out += request.method + "\n";
  out += (request.canonical_uri.empty() ? "/" : request.canonical_uri) + "\n";
  out += CanonicalQueryString(request.query) + "\n";
  out += canonical_headers + "\n";
  out += *signed_headers + "\n";
  out += request.payload_sha256;
  return out;
}

std::string StringToSign(const Scope& scope, std::string_view canonical_request) {
  std::string date = scope.amz_date.substr(0, 8);
  std::string out(kAlgorithm);
  out += "\n" + scope.amz_date + "\n";
  out += date + "/" + scope.region + "/" + scope.service + "/aws4_request\n";
  out += Sha256Hex(canonical_request);
  return out;
}

std::string SigningKey(std::string_view secret_access_key, const Scope& scope) {
  std::string k_secret = "AWS4" + std::string(secret_access_key);
  std::string k_date = HmacSha256(k_secret, scope.amz_date.substr(0, 8));
  std::string k_region = HmacSha256(k_date, scope.region);
  std::string k_service = HmacSha256(k_region, scope.service);
  return HmacSha256(k_service, "aws4_request");
}

std::string Authorization(const Request& request, const Credentials& credentials,
                          const Scope& scope) {
  std::string signed_headers;
  std::string canonical = CanonicalRequest(request, &signed_headers);
  std::string to_sign = StringToSign(scope, canonical);
  std::string signature =
      HexEncode(HmacSha256(SigningKey(credentials.secret_access_key, scope), to_sign));
  std::string out(kAlgorithm);
  out += " Credential=" + credentials.access_key_id + "/" + scope.amz_date.substr(0, 8) + "/" +
         scope.region + "/" + scope.service + "/aws4_request";
  out += ",SignedHeaders=" + signed_headers;
  out += ",Signature=" + signature;
  return out;
}

}  // namespace inlet::storage::sigv4
