#include "notify/webhook_signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace inlet::notify {

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 0xf];
  }
  return out;
}

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
