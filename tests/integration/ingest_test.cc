// Ingest API over real HTTP on loopback against the real inlet binary.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <zlib.h>
#include <zstd.h>

#include <csignal>
#include <set>
#include <thread>

#include "http/api_keys.h"
#include "support/inlet_process.h"

namespace inlet::testing {
namespace {

const char* kTopology = R"(topics:
  events: {}
  other: {}
  dlq: {}
subscriptions:
  s1: {topic: events, visibility_timeout: 300ms, max_receive_count: 2, dead_letter_topic: dlq}
  s2: {topic: events}
  s3: {topic: events}
  dead: {topic: dlq}
)";

class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(kTopology); }
  void Start(const std::string& body, const std::string& limits = "",
             const std::string& extra_keys = "") {
    port_ = FreePort();
    inlet_ = std::make_unique<InletProcess>(
        dir_.path(), TestConfig(port_, dir_.path() / "data", extra_keys + body, limits), port_);
    ASSERT_TRUE(inlet_->WaitReady()) << inlet_->Log();
  }
  http::ClientResponse Post(const std::string& target, const std::string& body,
                            std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto r = inlet_->Post(target, body, std::move(headers));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : http::ClientResponse{};
  }
  // Receives everything currently available on a subscription.
  std::vector<std::string> ReceiveBodies(const std::string& sub, bool ack = true) {
    std::vector<std::string> out;
    for (;;) {
      auto r = Post("/v1/subscriptions/" + sub + "/receive", R"({"max_messages": 1000})");
      EXPECT_EQ(r.status, 200) << r.body;
      simdjson::dom::parser p;
      simdjson::dom::element root = p.parse(r.body);
      simdjson::dom::array msgs = root["messages"];
      if (msgs.size() == 0) break;
      std::string handles = "[";
      for (auto m : msgs) {
        out.push_back(simdjson::minify(m["body"]));
        handles += (handles.size() > 1 ? ",\"" : "\"") +
                   std::string(std::string_view(m["receipt_handle"])) + "\"";
      }
      handles += "]";
      if (!ack) break;
      auto a = Post("/v1/subscriptions/" + sub + "/ack", "{\"receipt_handles\":" + handles + "}");
      EXPECT_EQ(a.status, 200) << a.body;
    }
    return out;
  }

  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<InletProcess> inlet_;
};

std::string Gzip(const std::string& s) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, s.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  zs.avail_in = static_cast<uInt>(s.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string Zstd(const std::string& s) {
  std::string out(ZSTD_compressBound(s.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), s.data(), s.size(), 3));
  return out;
}

TEST_F(IngestTest, AcceptsAnObjectAnArrayAndNdjsonAndStoresThemExactly) {
  auto r1 = Post("/v1/topics/events/events", R"({"id": 1,  "spaced" : true})");
  EXPECT_EQ(r1.status, 200) << r1.body;
  EXPECT_NE(r1.body.find("\"accepted\":1"), std::string::npos) << r1.body;
  auto r2 = Post("/v1/topics/events/events", R"([{"id":2}, {"id":3,"s":"a,]}"}])");
  EXPECT_EQ(r2.status, 200) << r2.body;
  EXPECT_NE(r2.body.find("\"accepted\":2"), std::string::npos) << r2.body;
  auto r3 = Post("/v1/topics/events/events", "{\"id\":4}\n\n{\"id\":5}\n",
                 {{"Content-Type", "application/x-ndjson"}});
  EXPECT_EQ(r3.status, 200) << r3.body;
  EXPECT_NE(r3.body.find("\"first_seq\":4,\"last_seq\":5"), std::string::npos) << r3.body;
  // Exact bytes: spacing of the single object is kept.
  auto r = Post("/v1/subscriptions/s2/receive", R"({"max_messages": 10})");
  EXPECT_NE(r.body.find(R"({"id": 1,  "spaced" : true})"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"({"id":3,"s":"a,]}"})"), std::string::npos) << r.body;
}

TEST_F(IngestTest, AcceptsGzipAndZstdBodies) {
  const std::string nd = "{\"id\":\"gz1\"}\n{\"id\":\"gz2\"}\n";
  auto g = Post("/v1/topics/events/events", Gzip(nd),
                {{"Content-Type", "application/x-ndjson"}, {"Content-Encoding", "gzip"}});
  EXPECT_EQ(g.status, 200) << g.body;
  auto z =
      Post("/v1/topics/events/events", Zstd("[{\"id\":\"zs1\"}]"), {{"Content-Encoding", "zstd"}});
  EXPECT_EQ(z.status, 200) << z.body;
  auto bodies = ReceiveBodies("s3");
  EXPECT_EQ(bodies,
            (std::vector<std::string>{R"({"id":"gz1"})", R"({"id":"gz2"})", R"({"id":"zs1"})"}));
  auto bad = Post("/v1/topics/events/events", "not gzip at all", {{"Content-Encoding", "gzip"}});
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("gzip"), std::string::npos);
  auto br = Post("/v1/topics/events/events", "{}", {{"Content-Encoding", "br"}});
  EXPECT_EQ(br.status, 415) << br.body;
}

TEST_F(IngestTest, RejectsBadInputWithClearStatusesAndMessages) {
  auto notjson = Post("/v1/topics/events/events", "{not json");
  EXPECT_EQ(notjson.status, 400);
  EXPECT_NE(notjson.body.find("malformed_json"), std::string::npos) << notjson.body;
  auto unknown = Post("/v1/topics/nope/events", "{}");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.find("nope"), std::string::npos);
  auto media = Post("/v1/topics/events/events", "a=1",
                    {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(media.status, 415);
  EXPECT_NE(media.body.find("application/json"), std::string::npos);
  auto big_event =
      Post("/v1/topics/events/events", "{\"x\":\"" + std::string(2 << 20, 'a') + "\"}");
  EXPECT_EQ(big_event.status, 413) << big_event.body.substr(0, 300);
  auto big_request = Post("/v1/topics/events/events", std::string(20 << 20, ' '));
  EXPECT_EQ(big_request.status, 413);
  std::string many;
  for (int i = 0; i < 10001; ++i) many += "{}\n";
  auto too_many =
      Post("/v1/topics/events/events", many, {{"Content-Type", "application/x-ndjson"}});
  EXPECT_EQ(too_many.status, 413);
  EXPECT_NE(too_many.body.find("10000"), std::string::npos) << too_many.body;
  auto empty = Post("/v1/topics/events/events", "");
  EXPECT_EQ(empty.status, 400);
  // Partial batch: the good events are stored, the bad ones listed.
  auto partial = Post("/v1/topics/events/events",
                      "{\"ok\":1}\n[1,2]\n{\"ok\":2}\n{\"bad\":\n{\"s\":\"\xff\xfe\"}\n",
                      {{"Content-Type", "application/x-ndjson"}});
  EXPECT_EQ(partial.status, 200) << partial.body;
  EXPECT_NE(partial.body.find("\"accepted\":2"), std::string::npos) << partial.body;
  EXPECT_NE(partial.body.find("{\"index\":1,\"category\":\"not_an_object\""), std::string::npos)
      << partial.body;
  EXPECT_NE(partial.body.find("{\"index\":3,\"category\":\"malformed_json\""), std::string::npos)
      << partial.body;
  EXPECT_NE(partial.body.find("{\"index\":4,\"category\":\"invalid_utf8\""), std::string::npos)
      << partial.body;
  EXPECT_EQ(ReceiveBodies("s2"), (std::vector<std::string>{R"({"ok":1})", R"({"ok":2})"}));
  // The server is still fine.
  EXPECT_EQ(inlet_->Get("/healthz")->status, 200);
}

TEST_F(IngestTest, EnforcesApiKeysAndScopes) {
  inlet_.reset();
  Start(kTopology, "",
        R"(  publisher:
    sha256: )" +
            http::Sha256Hex("pub-key") + R"(
    scopes: ["publish:other"]
)");
  // The extra key is appended after api_keys' first entry.
  auto none = Post("/v1/topics/events/events", "{}", {{"X-Api-Key", ""}});
  EXPECT_EQ(none.status, 401) << none.body;
  auto wrong = Post("/v1/topics/events/events", "{}", {{"Authorization", "Bearer not-a-key"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_NE(wrong.body.find("invalid API key"), std::string::npos);
  auto scope = Post("/v1/topics/events/events", "{}", {{"X-Api-Key", "pub-key"}});
  EXPECT_EQ(scope.status, 403) << scope.body;
  EXPECT_NE(scope.body.find("publish:events"), std::string::npos) << scope.body;
  auto ok = Post("/v1/topics/other/events", "{}", {{"X-Api-Key", "pub-key"}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  auto consume = Post("/v1/subscriptions/s1/receive", "{}", {{"X-Api-Key", "pub-key"}});
  EXPECT_EQ(consume.status, 403);
}

TEST_F(IngestTest, EverySubscriptionReceivesEveryEvent) {
  std::string nd;
  for (int i = 0; i < 300; ++i) nd += "{\"n\":" + std::to_string(i) + "}\n";
  ASSERT_EQ(Post("/v1/topics/events/events", nd, {{"Content-Type", "application/x-ndjson"}}).status,
            200);
  for (const char* sub : {"s1", "s2", "s3"}) {
    auto bodies = ReceiveBodies(sub);
    ASSERT_EQ(bodies.size(), 300u) << sub;
    for (int i = 0; i < 300; ++i) EXPECT_EQ(bodies[i], "{\"n\":" + std::to_string(i) + "}");
  }
  auto stats = inlet_->Get("/v1/subscriptions/s1");
  EXPECT_NE(stats->body.find("\"backlog\":0"), std::string::npos) << stats->body;
}

TEST_F(IngestTest, VisibilityTimeoutRedeliversAndMaxReceiveCountDeadLetters) {
  ASSERT_EQ(Post("/v1/topics/events/events", R"({"poison":true})").status, 200);
  auto first = Post("/v1/subscriptions/s1/receive", "{}");
  EXPECT_NE(first.body.find("\"receive_count\":1"), std::string::npos) << first.body;
  // Not acknowledged: back after the 300 ms visibility timeout.
  auto second = Post("/v1/subscriptions/s1/receive", R"({"wait_time_seconds": 5})");
  EXPECT_NE(second.body.find("\"receive_count\":2"), std::string::npos) << second.body;
  // The third receive moves it to the dead-letter topic instead.
  auto third = Post("/v1/subscriptions/s1/receive", R"({"wait_time_seconds": 1})");
  EXPECT_NE(third.body.find("\"messages\":[]"), std::string::npos) << third.body;
  EXPECT_EQ(ReceiveBodies("dead"), std::vector<std::string>{R"({"poison":true})"});
  auto stats = inlet_->Get("/v1/subscriptions/s1");
  EXPECT_NE(stats->body.find("\"dead_lettered\":1"), std::string::npos) << stats->body;
}

TEST_F(IngestTest, NackWithDelayAndStaleReceipts) {
  ASSERT_EQ(Post("/v1/topics/events/events", R"({"n":1})").status, 200);
  auto r = Post("/v1/subscriptions/s2/receive", "{}");
  simdjson::dom::parser p;
  std::string handle(std::string_view(p.parse(r.body)["messages"].at(0)["receipt_handle"]));
  auto nack = Post("/v1/subscriptions/s2/nack",
                   "{\"receipt_handles\":[\"" + handle + "\"],\"delay_seconds\":0}");
  EXPECT_EQ(nack.status, 200) << nack.body;
  auto again = Post("/v1/subscriptions/s2/receive", R"({"wait_time_seconds": 2})");
  EXPECT_NE(again.body.find("\"receive_count\":2"), std::string::npos) << again.body;
  auto bad = Post("/v1/subscriptions/s2/ack", R"({"receipt_handles":["s1:1:1"]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("not one of subscription 's2'"), std::string::npos) << bad.body;
}

TEST_F(IngestTest, RestartResumesSubscriptionsWithoutLoss) {
  std::string nd;
  for (int i = 0; i < 100; ++i) nd += "{\"n\":" + std::to_string(i) + "}\n";
  ASSERT_EQ(Post("/v1/topics/events/events", nd, {{"Content-Type", "application/x-ndjson"}}).status,
            200);
  ASSERT_EQ(ReceiveBodies("s2").size(), 100u);  // s2 acknowledges everything
  std::this_thread::sleep_for(
      std::chrono::milliseconds(300));  // cursor persistence runs every 100 ms
  inlet_->Kill(SIGKILL);
  inlet_->Wait();
  inlet_ = std::make_unique<InletProcess>(dir_.path(), ReadFile(dir_.path() / "inlet.yaml"), port_);
  ASSERT_TRUE(inlet_->WaitReady()) << inlet_->Log();
  EXPECT_TRUE(ReceiveBodies("s2").empty());
  EXPECT_EQ(ReceiveBodies("s3").size(), 100u);
  ASSERT_EQ(Post("/v1/topics/events/events", R"({"n":100})").status, 200);
  EXPECT_EQ(ReceiveBodies("s2"), std::vector<std::string>{R"({"n":100})"});
}

TEST_F(IngestTest, DiskBudgetAnswers507WithRetryAfter) {
  inlet_.reset();
  Start("topics:\n  events: {segment_bytes: 1MiB}\nsubscriptions:\n  s: {topic: events}\n",
        "  disk_budget: 64MiB\n  max_pending_bytes: 8MiB\n  max_request_bytes: 4MiB\n");
  std::string nd;
  while (nd.size() < (3u << 20)) nd += "{\"pad\":\"" + std::string(1000, 'x') + "\"}\n";
  int status = 0;
  http::ClientResponse last;
  for (int i = 0; i < 40 && status != 507; ++i) {
    last = Post("/v1/topics/events/events", nd, {{"Content-Type", "application/x-ndjson"}});
    status = last.status;
  }
  ASSERT_EQ(status, 507) << last.body;
  EXPECT_FALSE(last.Header("retry-after").empty());
  EXPECT_NE(last.body.find("budget"), std::string::npos) << last.body;
  EXPECT_EQ(inlet_->Get("/readyz")->status, 503);
}

TEST_F(IngestTest, MetricsExposeIngestAndSubscriptionSeries) {
  ASSERT_EQ(Post("/v1/topics/events/events", R"([{"a":1},{"b":2}])").status, 200);
  Post("/v1/topics/events/events", "nope");
  auto m = inlet_->Get("/metrics");
  ASSERT_EQ(m->status, 200);
  EXPECT_NE(m->body.find("inlet_ingest_events_total{topic=\"events\"} 2"), std::string::npos)
      << m->body;
  EXPECT_NE(
      m->body.find("inlet_ingest_rejected_total{topic=\"events\",reason=\"malformed_json\"} 1"),
      std::string::npos);
  EXPECT_NE(m->body.find("inlet_subscription_backlog{subscription=\"s1\"} 2"), std::string::npos);
  EXPECT_NE(m->body.find("inlet_ingest_ack_latency_seconds_count{topic=\"events\"} 1"),
            std::string::npos);
  EXPECT_NE(m->body.find("inlet_subscription_oldest_unacked_age_seconds{subscription=\"s1\"}"),
            std::string::npos);
  EXPECT_NE(m->body.find("inlet_log_fsync_seconds_count{topic=\"events\"} 1"), std::string::npos);
}

}  // namespace
}  // namespace inlet::testing
