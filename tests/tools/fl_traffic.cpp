// SPDX-License-Identifier: Apache-2.0
// Real traffic for the integration tests: plain sockets, one line of
// results on stdout. Every mode is bounded in count and time.
//
//   fl_traffic udp-recv PORT IDLE_MS MAX_MS   count datagrams per 4-byte tag, and
//                                             reorderings ("inversions")
//   fl_traffic udp-send ADDR PORT N TAG PPS   send N tagged datagrams at PPS
//   fl_traffic tcp-listen PORT MAX_MS          accept and close
//   fl_traffic tcp-connect ADDR PORT N         N connects, results by errno
//   fl_traffic udp-echo PORT MAX_MS            echo datagrams back
//   fl_traffic udp-ping ADDR PORT N TIMEOUT_MS RTTs: p50 p99 (us), lost
#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

sockaddr_storage addr_of(const char* ip, int port, socklen_t* len) {
    sockaddr_storage ss{};
    auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(static_cast<uint16_t>(port));
        *len = sizeof *a4;
    } else if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(static_cast<uint16_t>(port));
        *len = sizeof *a6;
    } else {
        fprintf(stderr, "bad address %s\n", ip);
        exit(2);
    }
    return ss;
}

int bound_socket(int type, int port) {
    int fd = socket(AF_INET6, type | SOCK_CLOEXEC, 0);
    int zero = 0, one = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int buf = 16 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    a.sin6_addr = in6addr_any;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a)) {
        perror("bind");
        exit(2);
    }
    return fd;
}

long ms_since(clock_type::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t).count();
}

int udp_recv(int port, int idle_ms, int max_ms) {
    int fd = bound_socket(SOCK_DGRAM, port);
    printf("ready\n");
    fflush(stdout);
    std::map<uint32_t, uint64_t> per_tag;
    std::map<uint32_t, uint32_t> last_seq;
    uint64_t inversions = 0; // a datagram older than one already received
    auto start = clock_type::now();
    bool any = false;
    while (ms_since(start) < max_ms) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, any ? idle_ms : 100) <= 0) {
            if (any)
                break;
            continue;
        }
        uint32_t msg[2];
        if (recv(fd, msg, sizeof msg, 0) == sizeof msg) {
            if (per_tag[msg[0]]++ && msg[1] < last_seq[msg[0]])
                inversions++;
            last_seq[msg[0]] = std::max(last_seq[msg[0]], msg[1]);
            any = true;
        }
    }
    for (auto [tag, n] : per_tag)
        printf("tag %u %llu\n", tag, static_cast<unsigned long long>(n));
    printf("inversions %llu\ndone\n", static_cast<unsigned long long>(inversions));
    return 0;
}

int udp_send(const char* ip, int port, long n, uint32_t tag, long pps) {
    socklen_t len;
    auto dst = addr_of(ip, port, &len);
    int fd = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    long sent = 0, errors = 0;
    auto start = clock_type::now();
    for (long i = 0; i < n; i++) {
        if (pps > 0) {
            auto due = start + std::chrono::nanoseconds(i * 1000000000L / pps);
            while (clock_type::now() < due)
                ;
        }
        uint32_t msg[2] = {tag, static_cast<uint32_t>(i)};
        if (sendto(fd, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&dst), len) == sizeof msg)
            sent++;
        else
            errors++;
    }
    printf("sent %ld errors %ld\n", sent, errors);
    return 0;
}

int tcp_listen(int port, int max_ms) {
    int fd = bound_socket(SOCK_STREAM, port);
    listen(fd, 4096);
    printf("ready\n");
    fflush(stdout);
    auto start = clock_type::now();
    while (ms_since(start) < max_ms) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (c >= 0)
                close(c);
        }
    }
    return 0;
}

int tcp_connect(const char* ip, int port, long n) {
    socklen_t len;
    auto dst = addr_of(ip, port, &len);
    std::map<std::string, long> results;
    for (long i = 0; i < n; i++) {
        int fd = socket(dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        linger lg{1, 0}; // RST on close: no TIME_WAIT pile-up over many connects
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        timeval tv{2, 0};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, reinterpret_cast<sockaddr*>(&dst), len) == 0)
            results["ok"]++;
        else
            results[strerrorname_np(errno) ? strerrorname_np(errno) : "E?"]++;
        close(fd);
    }
    for (auto& [k, v] : results)
        printf("%s %ld\n", k.c_str(), v);
    return 0;
}

int udp_echo(int port, int max_ms) {
    int fd = bound_socket(SOCK_DGRAM, port);
    printf("ready\n");
    fflush(stdout);
    auto start = clock_type::now();
    while (ms_since(start) < max_ms) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        char buf[64];
        sockaddr_storage from{};
        socklen_t fl = sizeof from;
        ssize_t r = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (r > 0)
            sendto(fd, buf, static_cast<size_t>(r), 0, reinterpret_cast<sockaddr*>(&from), fl);
    }
    return 0;
}

int udp_ping(const char* ip, int port, long n, int timeout_ms) {
    socklen_t len;
    auto dst = addr_of(ip, port, &len);
    int fd = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    connect(fd, reinterpret_cast<sockaddr*>(&dst), len);
    std::vector<double> rtt;
    long lost = 0;
    for (long i = 0; i < n; i++) {
        auto t0 = clock_type::now();
        uint32_t seq = static_cast<uint32_t>(i);
        send(fd, &seq, sizeof seq, 0);
        bool got = false;
        while (!got && ms_since(t0) < timeout_ms) {
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, static_cast<int>(std::max(1L, timeout_ms - ms_since(t0)))) <= 0)
                break;
            uint32_t back = 0;
            if (recv(fd, &back, sizeof back, 0) == sizeof back && back == seq)
                got = true;
        }
        if (got)
            rtt.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
        else
            lost++;
    }
    std::sort(rtt.begin(), rtt.end());
    auto q = [&](double x) { return rtt.empty() ? 0.0 : rtt[static_cast<size_t>(x * (rtt.size() - 1))]; };
    printf("p50_us %.1f p99_us %.1f lost %ld\n", q(0.5), q(0.99), lost);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    auto arg = [&](int i) { return i < argc ? argv[i] : "0"; };
    if (mode == "udp-recv" && argc == 5)
        return udp_recv(atoi(arg(2)), atoi(arg(3)), atoi(arg(4)));
    if (mode == "udp-send" && argc == 7)
        return udp_send(arg(2), atoi(arg(3)), atol(arg(4)), static_cast<uint32_t>(atol(arg(5))), atol(arg(6)));
    if (mode == "tcp-listen" && argc == 4)
        return tcp_listen(atoi(arg(2)), atoi(arg(3)));
    if (mode == "tcp-connect" && argc == 5)
        return tcp_connect(arg(2), atoi(arg(3)), atol(arg(4)));
    if (mode == "udp-echo" && argc == 4)
        return udp_echo(atoi(arg(2)), atoi(arg(3)));
    if (mode == "udp-ping" && argc == 6)
        return udp_ping(arg(2), atoi(arg(3)), atol(arg(4)), atoi(arg(5)));
    fprintf(stderr, "usage: see the header of tests/tools/fl_traffic.cpp\n");
    return 2;
}
