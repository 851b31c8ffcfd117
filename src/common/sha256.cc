// The low-level SHA256_* functions are deprecated in OpenSSL 3 in favour of
// EVP, whose per-call algorithm fetch is what this file avoids (see the header).
#define OPENSSL_SUPPRESS_DEPRECATED
#include "common/sha256.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

namespace inlet {
namespace {

constexpr size_t kBlock = 64;

static_assert(sizeof(SHA256_CTX) <= 112, "HmacSha256 keeps SHA256_CTX in 112 bytes");

}  // namespace

Sha256Digest Sha256(std::string_view data) {
  Sha256Digest out;
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, data.data(), data.size());
  SHA256_Final(out.data(), &c);
  return out;
}

void HexLowerTo(const uint8_t* bytes, size_t n, std::string* out, size_t max_chars) {
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t chars = std::min(n * 2, max_chars);
  out->resize(chars);
  char* o = out->data();
  const size_t whole = chars / 2;  // bytes written as two digits
  for (size_t i = 0; i < whole; ++i) {
    o[2 * i] = kHex[bytes[i] >> 4];
    o[2 * i + 1] = kHex[bytes[i] & 15];
  }
  if (chars % 2 != 0) o[chars - 1] = kHex[bytes[whole] >> 4];
}

std::string HexLower(const uint8_t* bytes, size_t n, size_t max_chars) {
  std::string out;
  HexLowerTo(bytes, n, &out, max_chars);
  return out;
}

std::string Sha256Hex(std::string_view data) {
  const Sha256Digest d = Sha256(data);
  return HexLower(d.data(), d.size());
}

HmacSha256::HmacSha256(std::string_view key) {
  uint8_t k[kBlock] = {};
  if (key.size() > kBlock) {
    const Sha256Digest d = Sha256(key);
    std::memcpy(k, d.data(), d.size());
  } else {
    std::memcpy(k, key.data(), key.size());
  }
  uint8_t pad[kBlock];
  auto* inner = reinterpret_cast<SHA256_CTX*>(inner_);
  auto* outer = reinterpret_cast<SHA256_CTX*>(outer_);
  for (size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x36;
  SHA256_Init(inner);
  SHA256_Update(inner, pad, kBlock);
  for (size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x5c;
  SHA256_Init(outer);
  SHA256_Update(outer, pad, kBlock);
}

Sha256Digest HmacSha256::Mac(std::string_view data) const {
  Sha256Digest inner_hash, out;
  SHA256_CTX c;
  std::memcpy(&c, inner_, sizeof c);
  SHA256_Update(&c, data.data(), data.size());
  SHA256_Final(inner_hash.data(), &c);
  std::memcpy(&c, outer_, sizeof c);
  SHA256_Update(&c, inner_hash.data(), inner_hash.size());
  SHA256_Final(out.data(), &c);
  return out;
}

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  const Sha256Digest d = HmacSha256(key).Mac(data);
  return HexLower(d.data(), d.size());
}

}  // namespace inlet
