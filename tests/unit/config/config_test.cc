#include "config/config.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace inlet::config {
namespace {

const char* kMinimal = R"(server:
  listen: 127.0.0.1:9999
  auth: false
topics:
  events: {}
)";

TEST(ConfigTest, TheReferenceExampleIsValid) {
  auto cfg = LoadConfig(inlet::testing::SourceDir() / "examples" / "inlet.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->server.port, 8080);
  EXPECT_TRUE(cfg->FindTopic("events"));
  EXPECT_EQ(cfg->tables.count("raw.events"), 1u);
  EXPECT_FALSE(cfg->delivery_streams.empty());
}

TEST(ConfigTest, DefaultsApplyAndPathsDeriveFromDataDir) {
  auto cfg = ParseConfig(kMinimal, "min.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->limits.max_event_bytes, 1u << 20);
  EXPECT_EQ(cfg->limits.max_events_per_request, 10000u);
  EXPECT_EQ(cfg->storage.log_dir, std::filesystem::path("data/log"));
  EXPECT_EQ(cfg->storage.lake_dir, std::filesystem::path("data/lake"));
}

void ExpectError(const std::string& yaml, const std::string& fragment) {
  auto cfg = ParseConfig(yaml, "f.yaml");
  ASSERT_FALSE(cfg.ok()) << "accepted:\n" << yaml;
  EXPECT_NE(cfg.status().message().find(fragment), std::string::npos)
      << "want '" << fragment << "' in:\n"
      << cfg.status().message();
}

TEST(ConfigTest, ErrorsNameFileLineColumnAndKey) {
  ExpectError(std::string(kMinimal) + "limits:\n  max_event_bytes: lots\n",
              "f.yaml:7:20: limits.max_event_bytes: expected a size");
  ExpectError(std::string(kMinimal) + "colour: blue\n", "f.yaml:6:1: colour: unknown key");
  ExpectError("server: {auth: false}\ntopics:\n  events: {retention: 3 weeks}\n",
              "topics.events.retention");
  ExpectError(std::string(kMinimal) + "subscriptions:\n  s: {topic: nope}\n", "no topic 'nope'");
  ExpectError(
      std::string(kMinimal) + "subscriptions:\n  s: {topic: events, max_receive_count: 3}\n",
      "needs a dead_letter_topic");
  ExpectError("server: {listen: '0.0.0.0:80', auth: false}\ntopics: {e: {}}\n",
              "only on a loopback");
  ExpectError("topics: {e: {}}\n", "no API key is declared");
  ExpectError(std::string(kMinimal) + "limits: {max_event_bytes: 32MiB, max_request_bytes: 1MiB}\n",
              "larger than max_request_bytes");
  ExpectError(std::string(kMinimal) + "api_keys:\n  k: {sha256: abc, scopes: [publish:nope]}\n",
              "api_keys.k.sha256");
  ExpectError(
      std::string(kMinimal) + "tables:\n  events:\n    columns: [{name: a, type: string}]\n",
      "qualified by their database");
  ExpectError(std::string(kMinimal) + "tables:\n  raw.e:\n    columns: [{name: a, type: strang}]\n",
              "tables.raw.e.columns[0].type");
  ExpectError("topics: [a, b]\nserver: {auth: false}\n", "topics: expected a mapping");
  ExpectError("server: {auth: false\n", "f.yaml:");  // YAML syntax error
}

TEST(ConfigTest, SizesAndDurations) {
  EXPECT_EQ(ParseSize("16MiB").value(), 16u << 20);
  EXPECT_EQ(ParseSize("1GB").value(), 1000000000u);
  EXPECT_EQ(ParseSize("4096").value(), 4096u);
  EXPECT_FALSE(ParseSize("-1").ok());
  EXPECT_FALSE(ParseSize("12 parsecs").ok());
  EXPECT_EQ(ParseDuration("250ms").value().count(), 250);
  EXPECT_EQ(ParseDuration("1.5s").value().count(), 1500);
  EXPECT_EQ(ParseDuration("7d").value().count(), 7 * 86400000);
  EXPECT_FALSE(ParseDuration("soon").ok());
}

}  // namespace
}  // namespace inlet::config

namespace inlet::config {
namespace {

TEST(ConfigScaleOutTest, TheClusterExampleIsValid) {
  auto cfg = LoadConfig(inlet::testing::SourceDir() / "examples" / "cluster" / "inlet.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->bus.type, BusSettings::Type::kJetStream);
  EXPECT_EQ(cfg->bus.jetstream.servers.size(), 3u);
  EXPECT_EQ(cfg->bus.jetstream.replicas, 3);
  EXPECT_TRUE(cfg->storage.s3.enabled);
  EXPECT_EQ(cfg->storage.s3.bucket, "inlet-lake");
  EXPECT_EQ(cfg->FindTopic("events")->partitions, 4u);
  EXPECT_EQ(cfg->FindTopic("events")->partition_key, "user_id");
}

TEST(ConfigScaleOutTest, BusStorageAndPartitionMistakesAreNamed) {
  const std::string base = "server: {listen: 127.0.0.1:9999, auth: false}\n";
  ExpectError(base + "topics:\n  events: {}\nbus: {type: kafka}\n",
              "bus.type: expected embedded or jetstream, got 'kafka'");
  ExpectError(base + "topics:\n  events: {}\nbus: {type: jetstream}\n",
              "needs a jetstream: section");
  ExpectError(base +
                  "topics:\n  events: {}\nbus:\n  type: jetstream\n  jetstream: {servers: "
                  "[http://x:1]}\n",
              "expected nats://host:port");
  ExpectError(base + "topics:\n  events: {partitions: 4}\n", "needs a partition_key");
  ExpectError(base + "topics:\n  events: {partitions: 2, partition_key: \"a b\"}\n",
              "expected a field path");
  ExpectError(base + "topics:\n  events: {}\nstorage:\n  s3: {endpoint: localhost, bucket: B}\n",
              "storage.s3.endpoint: expected http(s)://host[:port]");
  ExpectError(base + "topics:\n  events: {}\nstorage:\n  s3: {endpoint: http://h, bucket: B}\n",
              "expected an S3 bucket name");
  auto ok = ParseConfig(base +
                            "topics:\n  events: {partitions: 8, partition_key: $.user.id}\n"
                            "storage:\n  s3: {endpoint: 'http://h:9000', bucket: my-lake, prefix: "
                            "a/b/}\n",
                        "f.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->storage.s3.prefix, "a/b");
  EXPECT_EQ(ok->bus.type, BusSettings::Type::kEmbedded);
}

}  // namespace
}  // namespace inlet::config
