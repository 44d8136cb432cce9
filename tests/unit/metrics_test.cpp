// SPDX-License-Identifier: Apache-2.0
// The metrics endpoint against the clients it will meet: a slow one that
// must not hold up others or faultline's exit, a browser page naming
// 127.0.0.1 under a foreign name (DNS rebinding), and an address other
// machines reach, which needs saying so.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "faultline/error.hpp"
#include "faultline/metrics.hpp"

using namespace faultline;
using namespace std::chrono_literals;

namespace {

// A free loopback port: bound to 0, read back, released.
int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);
    return fd;
}

// One request, the whole answer (the server closes after it); "" if none
// came within 10 s. `end`: the client then closes its side (a request
// the server must not wait for the rest of) and may send only part of it.
std::string ask(int port, const std::string& request, bool end = false) {
    int fd = connect_to(port);
    ssize_t sent = send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    if (end) // the server may refuse a large request before reading all of it
        shutdown(fd, SHUT_WR);
    else
        EXPECT_EQ(sent, static_cast<ssize_t>(request.size()));
    std::string out;
    char buf[4096];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 10000) != 1)
            break;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return out;
}

std::string get(int port, const std::string& host) {
    return ask(port, fmt::format("GET /metrics HTTP/1.1\r\nHost: {}\r\nUser-Agent: test\r\n\r\n", host));
}

// A client that sends one byte of a request every 200 ms and never ends
// it, until stopped.
struct SlowClient {
    explicit SlowClient(int port) : fd(connect_to(port)) {
        th = std::thread([this] {
            const char* req = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            for (size_t i = 0; !stop && req[i]; i++) {
                if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1)
                    break;
                std::this_thread::sleep_for(200ms);
            }
        });
    }
    ~SlowClient() {
        stop = true;
        th.join();
        close(fd);
    }
    int fd;
    std::atomic<bool> stop{false};
    std::thread th;
};

TEST(Metrics, ASlowClientHoldsUpNoOtherClient) {
    int port = free_port();
    MetricsServer m(std::to_string(port));
    m.publish("faultline_injected_total 7\n");
    SlowClient slow(port);
    std::this_thread::sleep_for(300ms); // it has connected and started its request
    auto r = get(port, fmt::format("127.0.0.1:{}", port));
    EXPECT_EQ(r.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << r;
    EXPECT_NE(r.find("faultline_injected_total 7\n"), std::string::npos) << r;
    // Before: one connection at a time, each read waiting up to 2 s for
    // the next byte: the slow client held the endpoint for as long as it
    // kept sending.
    char c;
    EXPECT_EQ(recv(slow.fd, &c, 1, MSG_DONTWAIT), -1) << "the slow client was answered or cut before the fast one";
}

TEST(Metrics, ASlowClientIsCutAtItsDeadline) {
    int port = free_port();
    MetricsServer m(std::to_string(port));
    SlowClient slow(port);
    // Its request never ends: the server closes it at kConnDeadline (2 s)
    // after the accept, with no answer. Poll for the EOF for up to 10 s.
    pollfd p{slow.fd, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 10000), 1);
    char buf[64];
    EXPECT_EQ(recv(slow.fd, buf, sizeof buf, 0), 0) << "answered an unfinished request, or not closed";
}

TEST(Metrics, StoppingTheServerDoesNotWaitForAClient) {
    int port = free_port();
    auto m = std::make_unique<MetricsServer>(std::to_string(port));
    SlowClient slow(port);
    std::this_thread::sleep_for(300ms);
    auto t0 = std::chrono::steady_clock::now();
    m.reset();
    // Before: the destructor waited for the serving thread, which waited
    // for the slow client (11 s measured in issue 12, hours allowed). It
    // now returns without waiting for any client; the bound is the
    // server's own per-connection deadline (2 s), which a destructor that
    // waited for the client would reach, far above the milliseconds it
    // takes.
    EXPECT_LT(std::chrono::steady_clock::now() - t0, MetricsServer::kConnDeadline);
}

TEST(Metrics, OnLoopbackOnlyRequestsNamingThisMachineAreAnswered) {
    int port = free_port();
    MetricsServer m(std::to_string(port));
    for (const std::string host : {fmt::format("127.0.0.1:{}", port), fmt::format("localhost:{}", port),
                                   std::string("LOCALHOST"), std::string("127.0.0.2"), std::string("[::1]:1")})
        EXPECT_EQ(get(port, host).rfind("HTTP/1.0 200 OK", 0), 0u) << host;
    // a page of attacker.example whose name now resolves to 127.0.0.1
    for (const std::string host :
         {fmt::format("attacker.example:{}", port), std::string("127.0.0.1.nip.io"), std::string("10.0.0.1")}) {
        auto r = get(port, host);
        EXPECT_EQ(r.rfind("HTTP/1.0 421 Misdirected Request", 0), 0u) << host << ": " << r;
        EXPECT_EQ(r.find("faultline_"), std::string::npos) << r;
    }
    // HTTP/1.0 without a Host header (a scraper on this machine)
    EXPECT_EQ(ask(port, "GET /metrics HTTP/1.0\r\n\r\n").rfind("HTTP/1.0 200 OK", 0), 0u);
}

TEST(Metrics, AnAddressOtherMachinesReachNeedsSayingSo) {
    int port = free_port();
    for (const std::string addr :
         {fmt::format("0.0.0.0:{}", port), fmt::format("[::]:{}", port), fmt::format("192.0.2.1:{}", port)}) {
        try {
            MetricsServer m(addr);
            ADD_FAILURE() << addr << " was accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("is reachable from other machines"), std::string::npos) << e.what();
            EXPECT_NE(e.hint().find("--metrics-public"), std::string::npos) << e.hint();
        }
    }
    MetricsServer m(fmt::format("0.0.0.0:{}", port), true);
    EXPECT_TRUE(m.is_public());
    EXPECT_NE(m.describe().find("any host that reaches this address"), std::string::npos) << m.describe();
    // public: any Host is answered (it is reachable under any name anyway)
    EXPECT_EQ(get(port, "metrics.example").rfind("HTTP/1.0 200 OK", 0), 0u);
    EXPECT_FALSE(MetricsServer(std::to_string(free_port())).is_public());
}

// The metrics part of the bad-input catalogue (issue 12): requests a
// scraper never sends. Each is answered with an error status (400, 404,
// 421, 505) and no metric, or the connection is closed, within the
// deadline; the server answers a good request after all of them. It found
// a second Host header (the first was believed), HTTP/1.1 without Host, a
// header line without a colon and HTTP/9.9 answered with the metrics.
TEST(Metrics, TheRequestParserRefusesStrayLineEndsAndReadsTheHost) {
    // The server's catalogue below takes any 4xx as refused; a Host with a
    // bare LF used to come out as 421 (an unknown host), not as malformed.
    EXPECT_EQ(parse_metrics_request("GET /metrics HTTP/1.1\r\nHost: localhost\n\r\n\r\n").bad_status,
              "400 Bad Request");
    EXPECT_EQ(parse_metrics_request("GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n").bad_status,
              "400 Bad Request");
    EXPECT_EQ(parse_metrics_request(std::string("GET /metrics\0 HTTP/1.1\r\nHost: x\r\n\r\n", 35)).bad_status,
              "400 Bad Request");
    const auto ok = parse_metrics_request("GET /metrics HTTP/1.1\r\nHOST:  LocalHost:9464 \r\n\r\n");
    EXPECT_EQ(ok.bad_status, "");
    EXPECT_EQ(ok.host, "localhost");
    EXPECT_EQ(parse_metrics_request("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n").host, "[::1]");
}

TEST(Metrics, EveryBadRequestIsRefusedAndTheServerKeepsServing) {
    int port = free_port();
    MetricsServer m(std::to_string(port));
    m.publish("faultline_injected_total 1\n"); // what no bad request may see
    const std::string h = "Host: localhost\r\n";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"a bare LF inside the Host header (tests/fuzz)", "GET /metrics HTTP/1.1\r\nHost: localhost\n\r\n\r\n"},
        {"a CR inside a header", "GET /metrics HTTP/1.1\r\n" + h + "X-A: b\rc\r\n\r\n"},
        {"a NUL in the request line", std::string("GET /metrics\0 HTTP/1.1\r\n", 25) + h + "\r\n"},
        {"nothing", ""},
        {"blank lines", "\r\n\r\n"},
        {"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"},
        {"no line end", "GET /metrics HTTP/1.1"},
        {"POST", "POST /metrics HTTP/1.1\r\n" + h + "\r\n"},
        {"DELETE", "DELETE /metrics HTTP/1.1\r\n" + h + "\r\n"},
        {"lowercase method", "get /metrics HTTP/1.1\r\n" + h + "\r\n"},
        {"other path", "GET /other HTTP/1.1\r\n" + h + "\r\n"},
        {"path prefix", "GET /metricsx HTTP/1.1\r\n" + h + "\r\n"},
        {"traversal", "GET /../metrics HTTP/1.1\r\n" + h + "\r\n"},
        {"absolute form to another host", "GET http://attacker.example/metrics HTTP/1.1\r\n" + h + "\r\n"},
        {"no version", "GET /metrics\r\n" + h + "\r\n"},
        {"HTTP/9.9", "GET /metrics HTTP/9.9\r\n" + h + "\r\n"},
        {"no path", "GET\r\n\r\n"},
        {"100 kB path", "GET /" + std::string(100000, 'a') + " HTTP/1.1\r\n" + h + "\r\n"},
        {"1 MB header", "GET /metrics HTTP/1.1\r\n" + h + "X: " + std::string(1 << 20, 'a') + "\r\n\r\n"},
        {"10000 headers", "GET /metrics HTTP/1.1\r\n" + h +
                              [] {
                                  std::string x;
                                  for (int i = 0; i < 10000; i++)
                                      x += "X-" + std::to_string(i) + ": a\r\n";
                                  return x;
                              }() +
                              "\r\n"},
        {"two Host headers", "GET /metrics HTTP/1.1\r\nHost: localhost\r\nHost: attacker.example\r\n\r\n"},
        {"Host with NUL",
         [] {
             static const char r[] = "GET /metrics HTTP/1.1\r\nHost: localhost\0.attacker.example\r\n\r\n";
             return std::string(r, sizeof r - 1);
         }()},
        {"Host not UTF-8", "GET /metrics HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n"},
        {"empty Host", "GET /metrics HTTP/1.1\r\nHost:\r\n\r\n"},
        {"HTTP/1.1 without Host", "GET /metrics HTTP/1.1\r\n\r\n"},
        {"header without colon", "GET /metrics HTTP/1.1\r\n" + h + "garbage\r\n\r\n"},
    };
    for (const auto& [why, req] : cases) {
        std::string out = ask(port, req, true);
        EXPECT_EQ(out.find("faultline_"), std::string::npos) << why << ": " << out.substr(0, 200);
        EXPECT_TRUE(out.empty() || out.rfind("HTTP/1.0 4", 0) == 0 || out.rfind("HTTP/1.0 505", 0) == 0)
            << why << ": " << out.substr(0, 200);
    }
    auto good = get(port, "localhost");
    EXPECT_EQ(good.rfind("HTTP/1.0 200 OK", 0), 0u);
    EXPECT_NE(good.find("faultline_injected_total 1"), std::string::npos) << good;
    std::cout << "metrics catalogue: " << cases.size() << " bad requests\n";
}

} // namespace
