// The lake's query and catalog API through the real inlet binary: events
// published over HTTP reach the raw lake through a delivery stream and are
// read back by catalog name with POST /v1/query. Passes once `inlet run`
// serves the lake routes (lake::RegisterLakeRoutes).
#include <gtest/gtest.h>

#include <thread>

#include "support/inlet_process.h"

namespace inlet::testing {
namespace {

const char* kBody = R"(tables:
  raw.events:
    columns:
      - {name: id, type: string, required: true}
      - {name: ts, type: timestamp}
      - {name: gender, type: string}
topics:
  events:
    table: raw.events
subscriptions:
  raw-delivery:
    topic: events
delivery_streams:
  raw-events:
    subscription: raw-delivery
    table: raw.events
    buffer_interval: 0s
    idle_flush: 1s
    time_field: ts
query:
  timeout: 5s
  max_concurrent: 2
)";

class QueryIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreePort();
    inlet_ = std::make_unique<InletProcess>(dir_.path(),
                                            TestConfig(port_, dir_.path() / "data", kBody), port_);
    ASSERT_TRUE(inlet_->WaitReady()) << inlet_->Log();
  }
  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<InletProcess> inlet_;
};

TEST_F(QueryIntegrationTest, PublishedEventsAreQueryableByCatalogName) {
  std::string ndjson;
  for (int i = 0; i < 10; ++i) {
    ndjson += R"({"id":"e)" + std::to_string(i) + R"(","ts":"2024-05-01T10:00:00Z","gender":")" +
              (i % 2 ? "f" : "m") + "\"}\n";
  }
  auto pub =
      inlet_->Post("/v1/topics/events/events", ndjson, {{"Content-Type", "application/x-ndjson"}});
  ASSERT_TRUE(pub.ok());
  ASSERT_EQ(pub->status, 200) << pub->body;
  std::string body;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto r = inlet_->Post(
        "/v1/query",
        R"({"sql": "SELECT gender, count(*) AS n FROM raw.events GROUP BY 1 ORDER BY 1"})");
    ASSERT_TRUE(r.ok());
    body = r->body;
    if (r->status == 200 && body.find(R"("rows":[["f",5],["m",5]])") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_NE(body.find(R"("rows":[["f",5],["m",5]])"), std::string::npos) << body << inlet_->Log();
  EXPECT_NE(
      body.find(R"("columns":[{"name":"gender","type":"VARCHAR"},{"name":"n","type":"BIGINT"}])"),
      std::string::npos);
}

TEST_F(QueryIntegrationTest, CatalogAndSandboxOverHttp) {
  auto t = inlet_->Get("/v1/catalog/tables/raw.events");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->status, 200) << t->body;
  EXPECT_NE(t->body.find("\"location\":\"raw/events/\""), std::string::npos) << t->body;
  EXPECT_NE(t->body.find("{\"name\":\"_seq\",\"type\":\"bigint\""), std::string::npos);
  auto copy =
      inlet_->Post("/v1/query", R"({"sql": "COPY (SELECT 1) TO '/tmp/inlet-query-test.csv'"})");
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->status, 403) << copy->body;
  auto nokey =
      inlet_->Post("/v1/query", R"({"sql": "SELECT 1"})", {{"Authorization", "Bearer nope"}});
  ASSERT_TRUE(nokey.ok());
  EXPECT_EQ(nokey->status, 401);
}

}  // namespace
}  // namespace inlet::testing
