// SPDX-License-Identifier: Apache-2.0
// fl_bench_udp: small-packet UDP load for the throughput benchmark.
//
//   fl_bench_udp send --to ADDR --port N [--size 64] [--seconds S]
//   fl_bench_udp sink --bind ADDR --port N [--seconds S]
//   fl_bench_udp dns --to ADDR [--port 53] [--name N] [--window W] [--seconds S]
//
// dns: a closed-loop resolver load (as dnsperf does): W queries for N (type
// A) outstanding at all times, each answer sends the next; a query without
// an answer for 200 ms is counted lost and replaced. Prints answers per
// second and the answers by rcode.
//
// Why not iperf3 -u: an nftables drop in the output hook makes send() fail
// with EPERM, and iperf3 aborts the test on that error, while a cgroup_skb
// drop returns "congestion notified" and send() succeeds. This sender counts
// every send() call (success or error) so that both drop mechanisms are
// compared on the same footing: packets pushed through the egress path per
// second by one thread.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "common.hpp"
#include "support/packet.hpp"

namespace faultline::bench {
namespace {

// Hard bound on one run, whatever --seconds says.
constexpr int max_seconds = 120;

sockaddr_in parse_addr(const std::string& addr, int port) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, addr.c_str(), &sa.sin_addr) != 1)
        throw std::invalid_argument("not an IPv4 address: " + addr);
    // Benchmarks only ever talk to namespaces they made: RFC 2544 range.
    uint32_t a = ntohl(sa.sin_addr.s_addr);
    if ((a & 0xfffe0000u) != 0xc6120000u)
        throw std::invalid_argument(addr + " is outside 198.18.0.0/15");
    return sa;
}

int udp_socket() {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw std::runtime_error(fmt::format("socket: {}", std::strerror(errno)));
    return fd;
}

int send_main(const Args& args) {
    const auto to = parse_addr(args.str("--to", ""), args.num<int>("--port", 9000));
    const auto size = std::clamp<size_t>(args.num<size_t>("--size", 64), 1, 65507);
    const auto seconds = std::min(args.num<double>("--seconds", 2.0), double(max_seconds));
    int fd = udp_socket();
    if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to))
        throw std::runtime_error(fmt::format("connect: {}", std::strerror(errno)));
    std::vector<char> buf(size, 'x');
    uint64_t calls = 0, ok = 0;
    std::map<int, uint64_t> errors;
    const double start = now_s();
    double now = start;
    while (!stop_requested()) {
        // The clock is read every 256 sends: cheap next to 256 syscalls.
        for (int i = 0; i < 256; i++) {
            if (send(fd, buf.data(), buf.size(), 0) >= 0)
                ok++;
            else
                errors[errno]++;
            calls++;
        }
        now = now_s();
        if (now - start >= seconds)
            break;
    }
    close(fd);
    nlohmann::json err = nlohmann::json::object();
    for (auto [e, n] : errors)
        err[strerrorname_np(e) ? strerrorname_np(e) : std::to_string(e)] = n;
    double elapsed = now - start;
    fmt::print("{}\n", nlohmann::json{{"seconds", elapsed},
                                      {"calls", calls},
                                      {"ok", ok},
                                      {"errors", err},
                                      {"pps", elapsed > 0 ? static_cast<double>(calls) / elapsed : 0.0}}
                           .dump());
    return 0;
}

int sink_main(const Args& args) {
    const auto at = parse_addr(args.str("--bind", ""), args.num<int>("--port", 9000));
    const auto seconds = std::min(args.num<double>("--seconds", 60.0), double(max_seconds * 10));
    int fd = udp_socket();
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&at), sizeof at))
        throw std::runtime_error(fmt::format("bind: {}", std::strerror(errno)));
    timeval tv{.tv_sec = 0, .tv_usec = 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[2048];
    uint64_t received = 0;
    const double end = now_s() + seconds;
    while (!stop_requested() && now_s() < end)
        if (recv(fd, buf, sizeof buf, 0) >= 0)
            received++;
    close(fd);
    fmt::print("{}\n", nlohmann::json{{"received", received}}.dump());
    return 0;
}

int dns_main(const Args& args) {
    const auto to = parse_addr(args.str("--to", ""), args.num<int>("--port", 53));
    const std::string name = args.str("--name", "www.example.com");
    const auto window = std::clamp<int>(args.num<int>("--window", 32), 1, 1024);
    const auto seconds = std::min(args.num<double>("--seconds", 2.0), double(max_seconds));
    int fd = udp_socket();
    if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to))
        throw std::runtime_error(fmt::format("connect: {}", std::strerror(errno)));
    timeval tv{.tv_sec = 0, .tv_usec = 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint16_t next_id = 0;
    std::vector<bool> outstanding(65536, false);
    int in_flight = 0;
    uint64_t answered = 0, lost = 0, stray = 0;
    std::map<int, uint64_t> rcodes;
    auto send_one = [&] {
        uint16_t id = next_id++;
        auto q = test::DnsMessage().name(name).id(id).build(); // A, IN, RD
        if (send(fd, q.data(), q.size(), 0) == static_cast<ssize_t>(q.size())) {
            outstanding[id] = true;
            in_flight++;
        }
    };
    const double start = now_s();
    double now = start;
    for (int i = 0; i < window; i++)
        send_one();
    uint8_t buf[1500];
    while (!stop_requested() && now - start < seconds) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        now = now_s();
        if (r < 0) { // 200 ms without an answer: the window is lost
            lost += static_cast<uint64_t>(in_flight);
            std::fill(outstanding.begin(), outstanding.end(), false);
            in_flight = 0;
            for (int i = 0; i < window; i++)
                send_one();
            continue;
        }
        uint16_t id = r >= 12 ? static_cast<uint16_t>(buf[0] << 8 | buf[1]) : 0;
        if (r < 12 || !outstanding[id]) {
            stray++;
            continue;
        }
        outstanding[id] = false;
        in_flight--;
        answered++;
        rcodes[buf[3] & 0xf]++;
        send_one();
    }
    close(fd);
    double elapsed = now - start;
    nlohmann::json rc = nlohmann::json::object();
    for (auto [c, n] : rcodes)
        rc[std::to_string(c)] = n;
    fmt::print("{}\n", nlohmann::json{{"seconds", elapsed},
                                      {"answered", answered},
                                      {"lost", lost},
                                      {"stray", stray},
                                      {"rcodes", rc},
                                      {"qps", elapsed > 0 ? static_cast<double>(answered) / elapsed : 0.0}}
                           .dump());
    return 0;
}

} // namespace
} // namespace faultline::bench

int main(int argc, char** argv) {
    using namespace faultline::bench;
    install_stop_handlers();
    std::string mode = argc > 1 ? argv[1] : "";
    try {
        if (mode == "send")
            return send_main(Args(argc, argv, 2));
        if (mode == "sink")
            return sink_main(Args(argc, argv, 2));
        if (mode == "dns")
            return dns_main(Args(argc, argv, 2));
        fmt::print(stderr, "usage: fl_bench_udp send|sink|dns ...\n");
    } catch (const std::exception& e) {
        fmt::print(stderr, "fl_bench_udp: {}\n", e.what());
    }
    return 2;
}
