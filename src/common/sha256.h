// SHA-256 and HMAC-SHA256 (RFC 2104) over OpenSSL's SHA-256 block function,
// and lowercase hex. One place for every digest of inlet: API key hashes, S3
// request signatures, webhook signatures and the masking operators.
//
// OpenSSL 3's one-shot SHA256() and HMAC() look the algorithm up by name on
// every call, which costs more than hashing a short value; these call the
// block function directly, and HmacSha256 hashes the key's pads once, so a
// MAC of a short value costs two SHA-256 compressions. Thread-safe: the
// functions are pure and a HmacSha256 is immutable once built.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace inlet {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest Sha256(std::string_view data);
// Lowercase hex of SHA-256(data): 64 characters.
std::string Sha256Hex(std::string_view data);

// Lowercase hex of bytes[0, n), cut to at most `max_chars` characters.
std::string HexLower(const uint8_t* bytes, size_t n, size_t max_chars = SIZE_MAX);
// The same into *out, replacing its contents and reusing its capacity.
void HexLowerTo(const uint8_t* bytes, size_t n, std::string* out, size_t max_chars = SIZE_MAX);

// HMAC-SHA256 with one key, for many messages.
class HmacSha256 {
 public:
  explicit HmacSha256(std::string_view key);
  Sha256Digest Mac(std::string_view data) const;

 private:
  // Two OpenSSL SHA256_CTX, hashed over key^ipad and key^opad (the struct is
  // kept opaque here; sha256.cc checks that it fits).
  alignas(8) unsigned char inner_[112];
  alignas(8) unsigned char outer_[112];
};

// Lowercase hex of HMAC-SHA256(key, data): 64 characters.
std::string HmacSha256Hex(std::string_view key, std::string_view data);

}  // namespace inlet
