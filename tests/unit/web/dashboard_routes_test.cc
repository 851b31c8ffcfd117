// The dashboard's HTTP surface on a real HttpServer over loopback: the
// embedded UI (content types, ETag/304, gzip) and the saved-dashboards API
// (auth, create/replace/list/get/delete, validation, files on disk).
#include "web/dashboard_routes.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "http/http_client.h"
#include "support/test_support.h"
#include "web/assets.h"
#include "web/dashboard_store.h"

namespace inlet::web {
namespace {

using testing::TempDir;

constexpr const char* kQueryKey = "query-key";
constexpr const char* kPublishKey = "publish-key";

class DashboardRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = std::make_unique<http::ApiKeys>(
        std::vector<http::ApiKey>{
            http::ApiKey{"q", http::Sha256Hex(kQueryKey), {}, {}, true, false},
            http::ApiKey{"p", http::Sha256Hex(kPublishKey), {"*"}, {}, false, false}},
        true);
    http::ServerOptions o;
    o.port = 0;
    server_ = std::make_unique<http::HttpServer>(o);
    RegisterDashboardRoutes(server_.get(), keys_.get(), dir_.path() / "dashboards");
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<http::HttpClient>("127.0.0.1", server_->port());
  }

  http::ClientResponse Call(const std::string& method, const std::string& target,
                            const std::string& body = "", const char* key = kQueryKey,
                            std::vector<std::pair<std::string, std::string>> headers = {}) {
    if (key) headers.emplace_back("Authorization", std::string("Bearer ") + key);
    auto r = client_->Request(method, target, body, headers);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : http::ClientResponse{};
  }

  TempDir dir_;
  std::unique_ptr<http::ApiKeys> keys_;
  std::unique_ptr<http::HttpServer> server_;
  std::unique_ptr<http::HttpClient> client_;
};

std::string Gunzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string out(in.size() * 20 + 1024, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

TEST_F(DashboardRoutesTest, ServesTheEmbeddedPageWithoutAKey) {
  auto r = Call("GET", "/", "", nullptr);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("/ui/js/main.js"), std::string::npos);
  EXPECT_NE(r.Header("content-security-policy").find("default-src 'self'"), std::string::npos);
  EXPECT_EQ(r.Header("cache-control"), "no-cache");

  auto js = Call("GET", "/ui/js/main.js", "", nullptr);
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.Header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(Call("GET", "/ui/css/app.css", "", nullptr).Header("content-type"),
            "text/css; charset=utf-8");
  EXPECT_EQ(Call("GET", "/ui/nothing-here.js", "", nullptr).status, 404);
  EXPECT_EQ(Call("GET", "/ui/../src/web/assets.h", "", nullptr).status, 404);
}

TEST_F(DashboardRoutesTest, EveryEmbeddedFileIsServedWithItsETag) {
  ASSERT_FALSE(EmbeddedAssets().empty());
  bool has_echarts = false;
  for (const auto& a : EmbeddedAssets()) {
    has_echarts |= a.path == "vendor/echarts.min.js";
    auto r = Call("GET", "/ui/" + std::string(a.path), "", nullptr);
    EXPECT_EQ(r.status, 200) << a.path;
    EXPECT_EQ(r.body, a.data) << a.path;
    EXPECT_EQ(r.Header("etag"), a.etag) << a.path;
    EXPECT_NE(ContentTypeFor(a.path), "application/octet-stream") << a.path;
    auto again = Call("GET", "/ui/" + std::string(a.path), "", nullptr,
                      {{"If-None-Match", std::string(a.etag)}});
    EXPECT_EQ(again.status, 304) << a.path;
    EXPECT_TRUE(again.body.empty());
  }
  EXPECT_TRUE(has_echarts);
}

// HEAD gets the headers and the length of the GET body, without the body;
// a 304 carries neither; the keep-alive connection goes on after both.
TEST_F(DashboardRoutesTest, HeadAndNotModifiedHaveNoBodyAndKeepTheConnection) {
  const auto& a = EmbeddedAssets().front();
  const std::string path = "/ui/" + std::string(a.path);
  http::HttpClient raw("127.0.0.1", server_->port());
  auto head = raw.Raw("HEAD " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("content-length"), std::to_string(a.data.size()));
  EXPECT_TRUE(head->body.empty());
  auto not_modified = raw.Raw(
      "GET " + path + " HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + std::string(a.etag) + "\r\n\r\n");
  ASSERT_TRUE(not_modified.ok()) << not_modified.status().ToString();
  EXPECT_EQ(not_modified->status, 304);
  EXPECT_EQ(not_modified->Header("content-length"), "");
  auto get = raw.Raw("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(get.ok()) << get.status().ToString();
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, a.data);
}

TEST_F(DashboardRoutesTest, GzipWhenTheClientAcceptsIt) {
  auto plain = Call("GET", "/ui/vendor/echarts.min.js", "", nullptr);
  auto gz =
      Call("GET", "/ui/vendor/echarts.min.js", "", nullptr, {{"Accept-Encoding", "gzip, deflate"}});
  EXPECT_EQ(gz.Header("content-encoding"), "gzip");
  EXPECT_EQ(gz.Header("vary"), "Accept-Encoding");
  EXPECT_LT(gz.body.size(), plain.body.size());
  EXPECT_EQ(Gunzip(gz.body), plain.body);
  EXPECT_NE(plain.Header("cache-control").find("max-age="), std::string::npos);
}

TEST_F(DashboardRoutesTest, TheApiNeedsAKeyWithTheQueryScope) {
  EXPECT_EQ(Call("GET", "/v1/dashboards", "", nullptr).status, 401);
  EXPECT_EQ(Call("GET", "/v1/dashboards", "", kPublishKey).status, 403);
  EXPECT_EQ(Call("PUT", "/v1/dashboards/a", "{}", kPublishKey).status, 403);
  EXPECT_EQ(Call("GET", "/v1/dashboards").status, 200);
}

TEST_F(DashboardRoutesTest, SaveListReopenReplaceDelete) {
  const std::string doc =
      R"({"name":"daily","title":"Daily presence","filters":[{"id":"gender","value":""}],)"
      R"("visuals":[{"title":"Top","sql":"SELECT 1","chart":"bar"},{"sql":"SELECT 2","chart":"number"}]})";
  auto created = Call("PUT", "/v1/dashboards/daily", doc);
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.Header("location"), "/v1/dashboards/daily");
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "dashboards" / "daily.json"));

  auto got = Call("GET", "/v1/dashboards/daily");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, doc);

  auto list = Call("GET", "/v1/dashboards");
  EXPECT_NE(list.body.find(R"("name":"daily","title":"Daily presence","visuals":2)"),
            std::string::npos)
      << list.body;

  EXPECT_EQ(Call("PUT", "/v1/dashboards/daily", R"({"title":"Renamed"})").status, 200);
  EXPECT_EQ(Call("GET", "/v1/dashboards/daily").body, R"({"title":"Renamed"})");

  auto del = Call("DELETE", "/v1/dashboards/daily");
  EXPECT_EQ(del.status, 200);
  EXPECT_EQ(Call("GET", "/v1/dashboards/daily").status, 404);
  EXPECT_EQ(Call("DELETE", "/v1/dashboards/daily").status, 404);
  EXPECT_EQ(Call("GET", "/v1/dashboards").body, R"({"dashboards":[]})");
}

TEST_F(DashboardRoutesTest, PostCreatesOnlyOnce) {
  EXPECT_EQ(Call("POST", "/v1/dashboards", R"({"name":"ops","visuals":[]})").status, 201);
  auto again = Call("POST", "/v1/dashboards", R"({"name":"ops","visuals":[]})");
  EXPECT_EQ(again.status, 409);
  EXPECT_NE(again.body.find("dashboard_exists"), std::string::npos);
  EXPECT_EQ(Call("POST", "/v1/dashboards", R"({"visuals":[]})").status, 400);
}

TEST_F(DashboardRoutesTest, InvalidDocumentsAndNamesAreRefusedWithTheReason) {
  struct Case {
    std::string target, body, reason;
  };
  const Case cases[] = {
      {"/v1/dashboards/a", "not json", "not valid JSON"},
      {"/v1/dashboards/a", "[1,2]", "must be a JSON object"},
      {"/v1/dashboards/a", R"({"name":"b"})", "must equal the dashboard name"},
      {"/v1/dashboards/a", R"({"title":3})", "\\\"title\\\" must be a string"},
      {"/v1/dashboards/a", R"({"visuals":{}})", "\\\"visuals\\\" must be an array"},
      {"/v1/dashboards/a", R"({"visuals":[{"chart":"bar"}]})",
       "visuals[0].sql must be a non-empty string"},
      {"/v1/dashboards/a", R"({"visuals":[{"sql":"SELECT 1","chart":1}]})",
       "visuals[0].chart must be a string"},
      {"/v1/dashboards/.hidden", "{}", "invalid dashboard name"},
  };
  for (const auto& c : cases) {
    auto r = Call("PUT", c.target, c.body);
    EXPECT_EQ(r.status, 400) << c.target << " " << c.body;
    EXPECT_NE(r.body.find(c.reason), std::string::npos) << r.body;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "dashboards"));
}

TEST(DashboardStoreTest, LimitsOnSizeCountAndVisuals) {
  TempDir dir;
  DashboardLimits limits;
  limits.max_bytes = 200;
  limits.max_dashboards = 2;
  limits.max_visuals = 1;
  DashboardStore store(dir.path(), limits);
  bool created = false;
  EXPECT_EQ(
      store.Put("big", "{\"title\":\"" + std::string(300, 'x') + "\"}", false, &created).code(),
      StatusCode::kTooLarge);
  EXPECT_EQ(store.Put("v", R"({"visuals":[{"sql":"a"},{"sql":"b"}]})", false, &created).code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(store.Put("one", "{}", false, &created).ok());
  EXPECT_TRUE(created);
  ASSERT_TRUE(store.Put("two", "{}", false, &created).ok());
  EXPECT_EQ(store.Put("three", "{}", false, &created).code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(
      store.Put("two", R"({"title":"t"})", false, &created).ok());  // replacing is not a new one
  EXPECT_FALSE(created);
  auto list = store.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "one");
  EXPECT_EQ((*list)[1].title, "t");
  EXPECT_GT((*list)[1].updated_ms, 0);
}

TEST(DashboardStoreTest, SurvivesARestartAndIgnoresForeignFiles) {
  TempDir dir;
  bool created = false;
  {
    DashboardStore store(dir.path());
    ASSERT_TRUE(store.Put("keep", R"({"title":"kept"})", false, &created).ok());
  }
  testing::WriteFile(dir.path() / "notes.txt", "x");
  testing::WriteFile(dir.path() / "keep.json.tmp", "{");
  DashboardStore reopened(dir.path());
  auto list = reopened.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].title, "kept");
  auto doc = reopened.Get("keep");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(*doc, R"({"title":"kept"})");
}

TEST(DashboardStoreTest, NamesAreUrlSegmentsAndFileNames) {
  const std::string longest(64, 'n');
  for (const std::string& ok :
       {std::string("a"), std::string("daily-presence"), std::string("v1.2_x"), longest}) {
    EXPECT_TRUE(DashboardStore::ValidName(ok)) << ok;
  }
  for (const char* bad : {"", ".", "..", ".x", "-x", "a/b", "a b", "é", "a\\b"}) {
    EXPECT_FALSE(DashboardStore::ValidName(bad)) << bad;
  }
  EXPECT_FALSE(DashboardStore::ValidName(std::string(65, 'n')));
}

}  // namespace
}  // namespace inlet::web
