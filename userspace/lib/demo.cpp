// SPDX-License-Identifier: Apache-2.0
#include "faultline/demo.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fmt/format.h>
#include <net/if.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faultline/cgroup.hpp"
#include "faultline/counters_text.hpp"
#include "faultline/error.hpp"
#include "faultline/probe.hpp"
#include "faultline/session.hpp"
#include "faultline/state.hpp"

namespace faultline {
namespace {

constexpr uint16_t demo_port = 7357;

struct ClientResult {
    uint32_t sent = 0, answered = 0;
    double p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
};

void bring_up_lo() {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::snprintf(ifr.ifr_name, IFNAMSIZ, "lo");
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) || (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr)))
        throw_errno("bring up lo in the demo namespace", errno);
    close(fd);
}

[[noreturn]] void serve(int fd) {
    char buf[64];
    for (;;) {
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n > 0)
            sendto(fd, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), fl);
    }
}

// Runs in the child, inside the target cgroup: request/response over UDP,
// each request carries its sequence number so late answers are not counted.
ClientResult run_client(uint32_t requests, uint32_t timeout_ms) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(demo_port);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst))
        _exit(90);
    std::vector<double> rtt;
    ClientResult r;
    using clock = std::chrono::steady_clock;
    for (uint32_t i = 0; i < requests; i++) {
        auto t0 = clock::now();
        if (send(fd, &i, sizeof i, 0) == static_cast<ssize_t>(sizeof i))
            r.sent++;
        for (;;) {
            auto left = std::chrono::milliseconds(timeout_ms) -
                        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0);
            pollfd p{fd, POLLIN, 0};
            if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0)
                break;
            uint32_t got = 0;
            if (recv(fd, &got, sizeof got, 0) == static_cast<ssize_t>(sizeof got) && got == i) {
                rtt.push_back(std::chrono::duration<double, std::micro>(clock::now() - t0).count());
                r.answered++;
                break;
            }
        }
    }
    std::sort(rtt.begin(), rtt.end());
    auto pct = [&](double q) { return rtt.empty() ? 0.0 : rtt[static_cast<size_t>(q * (rtt.size() - 1))]; };
    r.p50_us = pct(0.5);
    r.p90_us = pct(0.9);
    r.p99_us = pct(0.99);
    r.max_us = rtt.empty() ? 0 : rtt.back();
    return r;
}

// Runs the client in the target cgroup; while it runs, keeps the session's
// kernel deadline renewed (the lease is shorter than a slow phase).
ClientResult client_in(const std::string& cgroup, const DemoOptions& o, Session* session) {
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC))
        throw_errno("pipe", errno);
    pid_t pid = fork();
    if (pid < 0)
        throw_errno("fork", errno);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); // dies with the demo
        close(pfd[0]);
        try {
            cgroup_move(cgroup, getpid());
        } catch (...) {
            _exit(91);
        }
        ClientResult r = run_client(o.requests, o.timeout_ms);
        (void)!write(pfd[1], &r, sizeof r);
        _exit(0);
    }
    close(pfd[1]);
    ClientResult r{};
    for (;;) {
        pollfd p{pfd[0], POLLIN, 0};
        if (poll(&p, 1, 500) != 0)
            break;
        if (session)
            session->renew();
    }
    ssize_t n = read(pfd[0], &r, sizeof r);
    close(pfd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (n != static_cast<ssize_t>(sizeof r))
        throw Error(ErrorKind::system, fmt::format("demo client failed (status {})", st));
    return r;
}

std::string us(double v) {
    return v >= 1000 ? fmt::format("{:.2f}ms", v / 1000) : fmt::format("{:.0f}us", v);
}

} // namespace

int run_demo(const DemoOptions& o) {
    // A private network namespace: the demo's traffic never leaves it.
    if (unshare(CLONE_NEWNET))
        throw_errno("create the demo network namespace", errno);
    bring_up_lo();

    int srv = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(demo_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (srv < 0 || bind(srv, reinterpret_cast<sockaddr*>(&a), sizeof a))
        throw_errno("bind the demo server", errno);
    pid_t server = fork();
    if (server == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        serve(srv);
    }
    close(srv);
    struct ServerGuard {
        pid_t pid;
        ~ServerGuard() {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    } server_guard{server};

    OwnedCgroup target(cgroup2_mount(), "demo");

    struct Phase {
        std::string name;
        std::optional<std::string> fault;
    };
    std::vector<Phase> phases = {
        {"baseline", std::nullopt}, {"10 ms on 1%", "net.delay=10ms@1%"}, {"1% loss", "net.drop@1%"}};
    nlohmann::json out = nlohmann::json::array();
    if (!o.json) {
        fmt::print("faultline demo: UDP echo over loopback in a private network namespace\n"
                   "client in cgroup {} (the target), server outside it; {} requests per phase, "
                   "{} ms timeout\n\n",
                   target.path(), o.requests, o.timeout_ms);
        fmt::print("{:<13} {:>8} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9}   {}\n", "phase", "sent", "answered", "lost",
                   "p50", "p90", "p99", "max", "faultline counters");
    }
    for (const auto& ph : phases) {
        std::optional<Session> session;
        nlohmann::json row = {{"phase", ph.name}};
        if (ph.fault) {
            FaultSpec f = parse_fault(*ph.fault);
            row["fault"] = *ph.fault;
            try {
                session.emplace(SessionOptions{
                    .target = target.ref(), .faults = {f}, .seed = std::nullopt, .duration = std::chrono::minutes(5)});
            } catch (const Error& e) {
                if (e.kind() != ErrorKind::unsupported)
                    throw;
                row["skipped"] = e.what();
                out.push_back(row);
                if (!o.json)
                    fmt::print("{:<13} skipped: {}\n", ph.name, e.what());
                continue;
            }
        }
        ClientResult r = client_in(target.path(), o, session ? &*session : nullptr);
        double lost = r.sent ? 100.0 * (r.sent - r.answered) / r.sent : 0;
        row.update({{"sent", r.sent},
                    {"answered", r.answered},
                    {"lost_percent", lost},
                    {"rtt_p50_us", r.p50_us},
                    {"rtt_p90_us", r.p90_us},
                    {"rtt_p99_us", r.p99_us},
                    {"rtt_max_us", r.max_us}});
        std::string counters = "-";
        if (session) {
            auto st = session->stats();
            row["counters"] = stats_json(st);
            counters = fmt::format("injected {} of {} packets ({})", st[0].counters.injected, st[0].counters.matched,
                                   format_percent(st[0].achieved_percent()));
        }
        out.push_back(row);
        if (!o.json)
            fmt::print("{:<13} {:>8} {:>8} {:>6.2f}% {:>9} {:>9} {:>9} {:>9}   {}\n", ph.name, r.sent, r.answered, lost,
                       us(r.p50_us), us(r.p90_us), us(r.p99_us), us(r.max_us), counters);
    }
    if (o.json)
        fmt::print("{}\n", out.dump(2));
    else
        fmt::print("\nEverything the demo made (namespace, cgroup, programs) is gone when it exits.\n");
    return 0;
}

} // namespace faultline
