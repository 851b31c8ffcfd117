#include "notify/webhook_signature.h"

#include <openssl/crypto.h>

namespace inlet::notify {

std::string SignWebhook(std::string_view secret, int64_t timestamp_s, std::string_view body) {
  std::string signed_text = std::to_string(timestamp_s);
  signed_text += '.';
  signed_text += body;
  return "sha256=" + HmacSha256Hex(secret, signed_text);
}

bool VerifyWebhook(std::string_view secret, int64_t timestamp_s, std::string_view body,
                   std::string_view signature_header) {
  std::string expected = SignWebhook(secret, timestamp_s, body);
  return expected.size() == signature_header.size() &&
         CRYPTO_memcmp(expected.data(), signature_header.data(), expected.size()) == 0;
}

}  // namespace inlet::notify
