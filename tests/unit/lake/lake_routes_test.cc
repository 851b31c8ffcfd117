// The lake's HTTP API over loopback (built only where inlet_http is).
#ifdef INLET_LAKE_HTTP
#include "lake/lake_routes.h"

#include <gtest/gtest.h>

#include "golden/test_lake.h"
#include "http/http_client.h"
#include "support/test_support.h"

namespace inlet::lake {
namespace {

namespace fs = std::filesystem;

class LakeRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.path() / "lake");
    testing::WriteTestEvents(dir_.path() / "lake");
    LakeConfig cfg;
    cfg.query.max_concurrent = 1;
    auto s = LakeService::Open(cfg, dir_.path() / "lake", testing::TestLakeTables());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    service_ = std::move(s).value();
    http::ApiKey q{"q", http::Sha256Hex("query-key"), {}, {}, true, false};
    http::ApiKey p{"p", http::Sha256Hex("publish-key"), {"*"}, {}, false, false};
    keys_ = std::make_unique<http::ApiKeys>(std::vector<http::ApiKey>{q, p}, true);
    http::ServerOptions o;
    o.port = 0;
    server_ = std::make_unique<http::HttpServer>(o);
    RegisterLakeRoutes(server_.get(), service_.get(), keys_.get());
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<http::HttpClient>("127.0.0.1", server_->port());
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }
  http::ClientResponse Post(const std::string& body, const std::string& key = "query-key") {
    auto r = client_->Request("POST", "/v1/query", body, {{"Authorization", "Bearer " + key}});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : http::ClientResponse{};
  }
  http::ClientResponse Get(const std::string& target) {
    auto r = client_->Request("GET", target, "", {{"Authorization", "Bearer query-key"}});
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : http::ClientResponse{};
  }

  testing::TempDir dir_;
  std::unique_ptr<LakeService> service_;
  std::unique_ptr<http::ApiKeys> keys_;
  std::unique_ptr<http::HttpServer> server_;
  std::unique_ptr<http::HttpClient> client_;
};

TEST_F(LakeRoutesTest, QueryReturnsColumnsRowsAndStatistics) {
  auto r = Post(
      R"({"sql": "SELECT gender, count(*) AS n FROM raw.events GROUP BY 1 ORDER BY 1", "max_rows": 2})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(
      r.body.find(R"("columns":[{"name":"gender","type":"VARCHAR"},{"name":"n","type":"BIGINT"}])"),
      std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find(R"("rows":[["f",102],["m",99]])"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("row_count":2,"truncated":true)"), std::string::npos);
  EXPECT_NE(r.body.find("\"bytes_scanned\":"), std::string::npos);
  EXPECT_NE(r.body.find("\"elapsed_ms\":"), std::string::npos);
}

TEST_F(LakeRoutesTest, NeedsTheQueryScope) {
  EXPECT_EQ(Post(R"({"sql": "SELECT 1"})", "publish-key").status, 403);
  EXPECT_EQ(Post(R"({"sql": "SELECT 1"})", "wrong").status, 401);
}

TEST_F(LakeRoutesTest, SandboxAndBadRequestsAre4xx) {
  auto copy = Post(R"({"sql": "COPY (SELECT 1) TO '/tmp/x.csv'"})");
  EXPECT_EQ(copy.status, 403);
  EXPECT_NE(copy.body.find("read-only"), std::string::npos);
  auto passwd = Post(R"j({"sql": "SELECT * FROM read_csv('/etc/passwd')"})j");
  EXPECT_EQ(passwd.status, 403) << passwd.body;
  EXPECT_EQ(Post(R"({"sql": "SELEKT 1"})").status, 400);
  EXPECT_EQ(Post(R"({"query": "SELECT 1"})").status, 400);
  EXPECT_EQ(Post("not json").status, 400);
}

TEST_F(LakeRoutesTest, CatalogForTheDashboard) {
  auto dbs = Get("/v1/catalog/databases");
  EXPECT_EQ(dbs.status, 200);
  EXPECT_NE(dbs.body.find(R"({"name":"raw","description":"","tables":1})"), std::string::npos)
      << dbs.body;
  auto tables = Get("/v1/catalog/tables?database=curated");
  EXPECT_NE(tables.body.find("\"poi_presence\""), std::string::npos);
  EXPECT_EQ(tables.body.find("\"raw\""), std::string::npos);
  auto t = Get("/v1/catalog/tables/raw.events");
  EXPECT_EQ(t.status, 200);
  EXPECT_NE(
      t.body.find(R"({"name":"device","type":"struct<os:string,os_version:string,model:string>")"),
      std::string::npos)
      << t.body;
  EXPECT_NE(t.body.find("\"partition_keys\":[{\"name\":\"year\""), std::string::npos);
  EXPECT_EQ(Get("/v1/catalog/tables/raw.nothing").status, 404);
  auto h = Get("/v1/catalog/tables/raw.events/history");
  EXPECT_NE(h.body.find("\"changed_by\":\"config\""), std::string::npos);
  auto ddl = Get("/v1/catalog/ddl?dialect=trino&location=s3://b/l/");
  EXPECT_EQ(ddl.status, 200);
  EXPECT_NE(ddl.body.find("external_location = 's3://b/l/raw/events/'"), std::string::npos);
}

}  // namespace
}  // namespace inlet::lake
#endif  // INLET_LAKE_HTTP
