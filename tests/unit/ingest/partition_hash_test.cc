#include <gtest/gtest.h>

#include "common/crc32c.h"
#include "ingest/body_parser.h"

namespace inlet::ingest {
namespace {

std::vector<uint32_t> Hashes(const std::string& body, const std::string& pointer) {
  BodyParser parser;
  ParsedBody parsed;
  BodyError error = BodyError::kNone;
  BodyLimits limits;
  limits.partition_pointer = pointer;
  EXPECT_TRUE(parser.Decode(std::string(body), "", limits, &error).ok());
  EXPECT_TRUE(parser.Parse(BodyFormat::kNdjson, limits, &parsed, &error).ok());
  EXPECT_EQ(parsed.partition_hashes.size(), parsed.events.size());
  return parsed.partition_hashes;
}

TEST(PartitionHashTest, OnePersonsEventsHashAlikeWhateverElseTheyCarry) {
  auto h = Hashes(
      "{\"user_id\":\"u1\",\"lat\":1}\n{\"lat\":2,\"user_id\":\"u1\"}\n{\"user_id\":\"u2\"}\n",
      "/user_id");
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0], h[1]);
  EXPECT_NE(h[0], h[2]);
  EXPECT_EQ(h[0], Crc32c("u1", 2)) << "a string hashes by its content";
}

TEST(PartitionHashTest, NestedNumericAndMissingKeys) {
  auto h =
      Hashes("{\"user\":{\"id\":42}}\n{\"user\":{\"id\":42},\"x\":1}\n{\"other\":1}\n", "/user/id");
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0], h[1]);
  EXPECT_EQ(h[0], Crc32c("42", 2)) << "a number hashes by its JSON text";
  const std::string whole = "{\"other\":1}";
  EXPECT_EQ(h[2], Crc32c(whole.data(), whole.size())) << "without the key: the whole event";
}

TEST(PartitionHashTest, NoPointerNoHashes) {
  BodyParser parser;
  ParsedBody parsed;
  BodyError error = BodyError::kNone;
  BodyLimits limits;
  ASSERT_TRUE(parser.Decode("{\"a\":1}", "", limits, &error).ok());
  ASSERT_TRUE(parser.Parse(BodyFormat::kJson, limits, &parsed, &error).ok());
  EXPECT_TRUE(parsed.partition_hashes.empty());
}

}  // namespace
}  // namespace inlet::ingest
