// Hostile input: each case gets a clear error or is cut off by a timeout,
// and inlet keeps serving others.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "http/api_keys.h"
#include "support/inlet_process.h"

namespace inlet::testing {
namespace {

class HostileInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = FreePort();
    const std::string config =
        "server:\n  listen: 127.0.0.1:" + std::to_string(port_) +
        "\n  request_timeout: 1s\n  idle_timeout: 2s\n  max_connections: 2000\n" +
        "storage:\n  data_dir: " + (dir_.path() / "data").string() +
        "\napi_keys:\n  t: {sha256: " + http::Sha256Hex(kTestKey) + ", scopes: [admin]}\n" +
        "topics:\n  events: {}\nsubscriptions:\n  s: {topic: events}\n";
    inlet_ = std::make_unique<InletProcess>(dir_.path(), config, port_);
    ASSERT_TRUE(inlet_->WaitReady()) << inlet_->Log();
  }
  http::ClientResponse Post(const std::string& body) {
    auto r = inlet_->Post("/v1/topics/events/events", body);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : http::ClientResponse{};
  }
  int Connect() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    return fd;
  }
  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<InletProcess> inlet_;
};

TEST_F(HostileInputTest, MalformedAndExtremeJsonGetsClearErrors) {
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "{\"a\":";
  deep += "1";
  for (int i = 0; i < 100000; ++i) deep += "}";
  auto r = Post(deep);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("too_deep"), std::string::npos) << r.body;
  EXPECT_EQ(Post("{\"a\":").status, 400);      // truncated
  EXPECT_EQ(Post("{\"a\":NaN}").status, 400);  // not JSON
  EXPECT_EQ(Post("{\"a\":Infinity}").status, 400);
  EXPECT_EQ(Post("{\"s\":\"\xc3\x28\"}").status, 400);  // invalid UTF-8
  EXPECT_EQ(Post("{\"a\":1,\"a\":2}").status, 200);  // duplicate keys: valid JSON, stored as sent
  auto huge = Post("{\"n\":123456789012345678901234567890123}");  // beyond 64 bits: valid JSON
  EXPECT_EQ(huge.status, 200) << huge.body;
  auto big = Post("{\"s\":\"" + std::string(100 << 20, 'x') + "\"}");
  EXPECT_EQ(big.status, 413);
  auto type = inlet_->Post("/v1/topics/events/events", "{}", {{"Content-Type", "text/csv"}});
  EXPECT_EQ(type->status, 415);
  EXPECT_EQ(inlet_->Get("/healthz")->status, 200);
}

TEST_F(HostileInputTest, SlowClientsAreCutOffAndOthersAreServed) {
  int slow = Connect();
  const std::string head =
      "POST /v1/topics/events/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{";
  ASSERT_EQ(send(slow, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  // One byte a second: the 1 s request timeout closes the connection.
  bool closed = false;
  for (int i = 0; i < 6 && !closed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    EXPECT_EQ(Post("{\"ok\":true}").status, 200);  // others are served meanwhile
    closed = send(slow, "a", 1, MSG_NOSIGNAL) < 0;
    char buf[512];
    if (!closed && recv(slow, buf, sizeof(buf), MSG_DONTWAIT) == 0) closed = true;
  }
  EXPECT_TRUE(closed) << "a client sending one byte at a time kept its connection";
  close(slow);
}

TEST_F(HostileInputTest, ManyIdleConnectionsDoNotBlockService) {
  std::vector<int> idle;
  for (int i = 0; i < 500; ++i) idle.push_back(Connect());
  EXPECT_EQ(Post("{\"ok\":1}").status, 200);
  // Idle connections are closed after idle_timeout (2 s).
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));
  char c;
  int closed = 0;
  for (int fd : idle) {
    if (recv(fd, &c, 1, MSG_DONTWAIT) == 0) ++closed;
    close(fd);
  }
  EXPECT_EQ(closed, 500);
  EXPECT_EQ(Post("{\"ok\":2}").status, 200);
}

}  // namespace
}  // namespace inlet::testing
