#include "common/sha256.h"

#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <random>
#include <string>

namespace inlet {
namespace {

TEST(Sha256Test, MatchesTheFips180Examples) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(HmacSha256Test, MatchesRfc4231) {
  EXPECT_EQ(HmacSha256Hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Keys longer than a block are hashed first (test cases 6 and 7).
  const std::string long_key(131, '\xaa');
  EXPECT_EQ(HmacSha256Hex(long_key, "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(HmacSha256Hex(long_key,
                          "This is a test using a larger than block-size key and a larger than "
                          "block-size data. The key needs to be hashed before being used by the "
                          "HMAC algorithm."),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(HmacSha256Test, OneKeyForManyMessagesEqualsOpenSslHmacForEveryLength) {
  std::mt19937 rng(7);
  for (size_t key_len : {0, 1, 32, 63, 64, 65, 200}) {
    std::string key(key_len, '\0');
    for (char& c : key) c = static_cast<char>(rng());
    const HmacSha256 mac(key);
    for (size_t len = 0; len < 300; len += 7) {
      std::string msg(len, '\0');
      for (char& c : msg) c = static_cast<char>(rng());
      unsigned char expected[EVP_MAX_MD_SIZE];
      unsigned int n = 0;
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), expected, &n);
      ASSERT_EQ(n, 32u);
      const Sha256Digest got = mac.Mac(msg);
      EXPECT_EQ(std::string(got.begin(), got.end()), std::string(expected, expected + n))
          << "key " << key_len << " bytes, message " << len << " bytes";
    }
  }
}

TEST(HexLowerTest, EncodesAndCuts) {
  const uint8_t b[] = {0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(HexLower(b, 4), "000fa5ff");
  EXPECT_EQ(HexLower(b, 4, 5), "000fa");
  EXPECT_EQ(HexLower(b, 0), "");
  std::string out = "a longer value that the hex replaces";
  HexLowerTo(b, 4, &out, 6);
  EXPECT_EQ(out, "000fa5");
  HexLowerTo(b, 2, &out);
  EXPECT_EQ(out, "000f");
  // Every byte value, against printf.
  uint8_t all[256];
  std::string want;
  for (int i = 0; i < 256; ++i) {
    all[i] = static_cast<uint8_t>(i);
    char two[3];
    std::snprintf(two, sizeof two, "%02x", i);
    want += two;
  }
  EXPECT_EQ(HexLower(all, 256), want);
  EXPECT_EQ(HexLower(all + 171, 1, 1), "a");
}

}  // namespace
}  // namespace inlet
