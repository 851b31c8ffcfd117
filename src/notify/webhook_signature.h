// The HMAC-SHA256 signature of webhook requests, so receivers can verify the
// sender and reject replays: the signed string is "<timestamp>.<body>" where
// <timestamp> is the X-Inlet-Timestamp header (seconds since the epoch), and
// X-Inlet-Signature carries "sha256=<lowercase hex>". Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/sha256.h"

namespace inlet::notify {

inline constexpr const char* kSignatureHeader = "X-Inlet-Signature";
inline constexpr const char* kTimestampHeader = "X-Inlet-Timestamp";

// Lowercase hex of HMAC-SHA256(key, data).
using ::inlet::HmacSha256Hex;

// The X-Inlet-Signature value for `body` sent at `timestamp_s`.
std::string SignWebhook(std::string_view secret, int64_t timestamp_s, std::string_view body);

// Compares in constant time (for receivers written in C++, and the tests).
bool VerifyWebhook(std::string_view secret, int64_t timestamp_s, std::string_view body,
                   std::string_view signature_header);

}  // namespace inlet::notify
