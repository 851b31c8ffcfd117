#include "ingest/body_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace inlet::ingest {
namespace {

struct Outcome {
  std::vector<std::string> events;
  std::vector<size_t> indexes;
  std::vector<uint32_t> hashes;
  std::vector<std::string> rejected;  // "index category"
};

// Parses `body` as NDJSON with `parser` (kept across calls: its state must
// not change the answers).
Outcome ParseNdjson(BodyParser* parser, const std::string& body) {
  BodyLimits limits;
  limits.max_event_bytes = 4096;
  limits.partition_pointer = "/user_id";
  BodyError error = BodyError::kNone;
  EXPECT_TRUE(parser->Decode(std::string(body), "", limits, &error).ok());
  ParsedBody parsed;
  EXPECT_TRUE(parser->Parse(BodyFormat::kNdjson, limits, &parsed, &error).ok());
  Outcome o;
  for (std::string_view e : parsed.events) o.events.emplace_back(e);
  o.indexes = parsed.indexes;
  o.hashes = parsed.partition_hashes;
  for (const RejectedEvent& r : parsed.rejected)
    o.rejected.push_back(std::to_string(r.index) + " " + r.category);
  return o;
}

Outcome ParseNdjson(const std::string& body, bool one_pass = true) {
  BodyParser parser;
  parser.set_ndjson_one_pass(one_pass);
  return ParseNdjson(&parser, body);
}

// A body of over 1 MiB is checked line by line; a smaller one at once when
// every line is one object. Both must give the same answer.
std::string Padded(const std::string& body) { return body + "\n" + std::string(1 << 20, ' '); }

std::string Lines(int n) {
  std::string body;
  for (int i = 0; i < n; ++i) {
    body += "{\"user_id\":\"u" + std::to_string(i % 7) + "\",\"n\":" + std::to_string(i) + "}";
    body += i % 5 == 0 ? "\r\n\n  \n" : "\n";  // CRLF and blank lines between events
  }
  return body;
}

TEST(BodyParserTest, ABodyPastTheOnePassLimitGivesTheSameAnswer) {
  const std::string body = Lines(50);
  Outcome reference = ParseNdjson(body, false);
  for (const std::string& b : {body, Padded(body)}) {
    Outcome o = ParseNdjson(b);
    EXPECT_EQ(o.events, reference.events);
    EXPECT_EQ(o.hashes, reference.hashes);
  }
}

TEST(BodyParserTest, NdjsonAtOnceAndLineByLineAcceptTheSameEvents) {
  const std::string body = Lines(2000);
  Outcome fast = ParseNdjson(body), slow = ParseNdjson(body, false);
  ASSERT_EQ(fast.events.size(), 2000u);
  EXPECT_EQ(fast.events, slow.events);
  EXPECT_EQ(fast.indexes, slow.indexes);
  EXPECT_EQ(fast.hashes, slow.hashes);
  EXPECT_TRUE(fast.rejected.empty());
  EXPECT_EQ(fast.events[1999], "{\"user_id\":\"u4\",\"n\":1999}");  // exact bytes, no CR
  EXPECT_EQ(fast.indexes[1999], 1999u);
  EXPECT_EQ(fast.hashes[0], fast.hashes[7]);  // the same user_id
}

TEST(BodyParserTest, BadLinesAreReportedOneByOneOnEitherPath) {
  const std::string good = "{\"user_id\":\"a\"}\n";
  const std::string body = good + "{\"user_id\":\"b\",}\n" +  // malformed
                           good + "[1,2]\n" +                 // not an object
                           "{\"a\":1} {\"b\":2}\n" +          // two documents on one line
                           "{\"big\":123456789012345678901234567890}\n" +    // valid JSON
                           "{\"s\":\"" + std::string(5000, 'x') + "\"}\n" +  // too large
                           "{\"unclosed\":\"\n" + good;
  for (bool one_pass : {true, false}) {
    Outcome o = ParseNdjson(body, one_pass);
    EXPECT_EQ(o.indexes, (std::vector<size_t>{0, 2, 5, 8}));
    ASSERT_EQ(o.rejected.size(), 5u) << one_pass;
    EXPECT_EQ(o.rejected[0], "1 malformed_json");
    EXPECT_EQ(o.rejected[1], "3 not_an_object");
    EXPECT_EQ(o.rejected[3], "6 too_large");
    EXPECT_EQ(o.rejected[2].substr(0, 2), "4 ");
    EXPECT_EQ(o.rejected[4].substr(0, 2), "7 ");
    EXPECT_EQ(o.events[2], "{\"big\":123456789012345678901234567890}");
  }
}

TEST(BodyParserTest, TheOnePassCheckLeavesTheDepthLimitAsItWas) {
  // A body ending in a partial document makes simdjson's parse_many start a
  // second batch; the parser must keep its depth limit (128) afterwards.
  BodyParser parser;
  EXPECT_EQ(ParseNdjson(&parser, "{}\n\xeer").events.size(), 1u);
  const std::string deep = std::string(130, '[') + "1" + std::string(130, ']');
  EXPECT_EQ(ParseNdjson(&parser, "{}\n" + deep + "\n").rejected,
            std::vector<std::string>{"1 too_deep"});
}

}  // namespace
}  // namespace inlet::ingest
