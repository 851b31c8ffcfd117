// The low-level SHA256_* functions are deprecated in OpenSSL 3 in favour of
// EVP, whose per-call algorithm fetch is what this file avoids (see the header).
#define OPENSSL_SUPPRESS_DEPRECATED
#include "common/sha256.h"

#include <openssl/sha.h>
#if defined(__SSSE3__)
#include <immintrin.h>
#endif

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

namespace {

// The two digits of every byte value, so that a byte is one 2-byte copy.
constexpr std::array<char, 512> kHexPairs = [] {
  constexpr char kHex[] = "0123456789abcdef";
  std::array<char, 512> t{};
  for (int b = 0; b < 256; ++b) t[2 * b] = kHex[b >> 4], t[2 * b + 1] = kHex[b & 15];
  return t;
}();

}  // namespace

void HexLowerTo(const uint8_t* bytes, size_t n, std::string* out, size_t max_chars) {
  const size_t chars = std::min(n * 2, max_chars);
  out->resize(chars);
  char* o = out->data();
  const size_t whole = chars / 2;  // bytes written as two digits
  size_t i = 0;
#if defined(__SSSE3__)
  // 16 bytes at a time: each nibble picks its digit with one shuffle.
  const __m128i digits =
      _mm_setr_epi8('0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f');
  const __m128i low_nibble = _mm_set1_epi8(0x0f);
  for (; i + 16 <= whole; i += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + i));
    const __m128i hi = _mm_shuffle_epi8(digits, _mm_and_si128(_mm_srli_epi16(x, 4), low_nibble));
    const __m128i lo = _mm_shuffle_epi8(digits, _mm_and_si128(x, low_nibble));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 2 * i), _mm_unpacklo_epi8(hi, lo));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 2 * i + 16), _mm_unpackhi_epi8(hi, lo));
  }
#endif
  for (; i < whole; ++i) std::memcpy(o + 2 * i, &kHexPairs[2 * bytes[i]], 2);
  if (chars % 2 != 0) o[chars - 1] = kHexPairs[2 * bytes[whole]];
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
