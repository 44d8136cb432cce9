// SPDX-License-Identifier: Apache-2.0
// Real traffic for the integration tests: plain sockets, one line of
// results on stdout. Every mode is bounded in count and time.
//
//   fl_traffic udp-recv PORT IDLE_MS MAX_MS   count datagrams per 4-byte tag, and
//                                             reorderings ("inversions")
//   fl_traffic udp-send ADDR PORT N TAG PPS   send N tagged datagrams at PPS
//   fl_traffic tcp-listen PORT MAX_MS          accept and close
//   fl_traffic tcp-connect ADDR PORT N         N connects, results by errno
//   fl_traffic udp-connect-every ADDR PORT TOTAL_MS INTERVAL_MS
//                                             a UDP connect() every INTERVAL_MS
//                                             for TOTAL_MS: "at MS ok|ERRNO" each
//   fl_traffic connect-for ADDR PORT MS GAP_US UDP connect()s for MS, one
//                                             every GAP_US: "ok N" and
//                                             "ERRNAME N" per errno seen;
//                                             SIGTERM ends it early (as
//                                             mmap-for)
//   fl_traffic connect-watch ADDR PORT MS GAP_US
//                                             as connect-for, and each run of
//                                             consecutive failures as "run
//                                             FIRST_NS LAST_NS COUNT ERRNAME"
//                                             (CLOCK_MONOTONIC when each failed
//                                             call started); "ready" first,
//                                             SIGTERM ends it early
//   fl_traffic udp-echo PORT IDLE_MS MAX_MS    echo datagrams back
//   fl_traffic udp-ping ADDR PORT N TIMEOUT_MS one request at a time; RTTs:
//                                             p50 p99 (us), lost; then
//                                             "stalled I...": requests whose
//                                             send() ended > 2 ms after their
//                                             timestamp
//   fl_traffic tcp-echo PORT MAX_MS            one connection, echo records
//   fl_traffic tcp-ping ADDR PORT N TIMEOUT_MS as udp-ping, over TCP
//   fl_traffic dns-flood ADDR PORT N PPS NAME WAIT_MS
//                                             N DNS queries for NAME (type A,
//                                             ids 0..N-1) at PPS on one
//                                             socket, then an end marker
//                                             (flood-end.invalid, which no
//                                             test fault matches) until it
//                                             is answered; answers by rcode,
//                                             unanswered once the marker's
//                                             answer is in and WAIT_MS/10
//                                             pass with no answer (the
//                                             marker is sent again every
//                                             WAIT_MS; 60 s at most; 'marker
//                                             0': never answered), and what
//                                             the socket dropped (the
//                                             kernel's count);
//                                             SIGTERM ends the sending early
//   fl_traffic resolve NAME                   getaddrinfo(): glibc's resolver
//                                             with /etc/resolv.conf; the
//                                             result or EAI error, and ms
//   fl_traffic mmap N BYTES                   N raw mmap(2) syscalls of a private
//                                             writable anonymous mapping (each
//                                             unmapped again): ok, enomem, other
//   fl_traffic mmap-for MS BYTES GAP_US       as mmap, for MS, one every GAP_US
//   fl_traffic malloc N BYTES                 N malloc()+free() with glibc's mmap
//                                             threshold fixed at 128 KiB: ok,
//                                             null (errno ENOMEM), other
//   fl_traffic dns-reuseport NETNS SERVER NAME LPORT TARGET_CG SIBLING_CG
//                                             in network namespace NETNS (a
//                                             path): if SIBLING_CG is not "-",
//                                             a UDP socket made in it
//                                             (SO_REUSEPORT on LPORT, connected
//                                             to SERVER:53); then one made in
//                                             TARGET_CG (the same port, not
//                                             connected) sends an A query for
//                                             NAME to SERVER:53. Prints
//                                             "target|sibling rcode R" for each
//                                             answer either socket gets in 2 s
//
// (Not a network mode, but the same shape: the memory faults' real program.)
//
// One-way latency: senders put CLOCK_REALTIME in each message; receivers
// (udp-recv, udp-echo, tcp-echo) read the kernel's receive timestamp
// (SO_TIMESTAMPNS, taken when the packet reaches the receiving device's
// backlog) and print one "lat US" line per message. Sender and receiver
// share the kernel's clock, so this is the time the packet spent between
// send() and the wire's far end — what a network delay adds — free of the
// receiving process's wake-up time, which a slow machine (QEMU TCG) makes
// long and noisy.
#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/sock_diag.h>
#include <malloc.h>
#include <map>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <string>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <thread>
#include <time.h>
#include <unistd.h>
#include <vector>

#include "../support/packet.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

// Every message: a tag, a sequence number, and when the sender sent it.
struct Msg {
    uint32_t tag;
    uint32_t seq;
    int64_t sent_ns; // CLOCK_REALTIME
};

int64_t realtime_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

Msg stamped(uint32_t tag, uint32_t seq) {
    return Msg{tag, seq, realtime_ns()};
}

void enable_rx_timestamps(int fd) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
}

// recvmsg() with the kernel's receive timestamp; rx_ns is 0 if none came.
ssize_t recv_stamped(int fd, void* buf, size_t len, int flags, int64_t* rx_ns, sockaddr_storage* from = nullptr,
                     socklen_t* fromlen = nullptr) {
    iovec iov{buf, len};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    if (from) {
        mh.msg_name = from;
        mh.msg_namelen = *fromlen;
    }
    ssize_t r = recvmsg(fd, &mh, flags);
    *rx_ns = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); r > 0 && c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
            timespec ts{};
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            *rx_ns = ts.tv_sec * 1000000000LL + ts.tv_nsec;
        }
    if (from)
        *fromlen = mh.msg_namelen;
    return r;
}

void print_latencies(const std::vector<double>& lat_us) {
    for (double l : lat_us)
        printf("lat %.1f\n", l);
}

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
    enable_rx_timestamps(fd);
    printf("ready\n");
    fflush(stdout);
    std::vector<double> lat_us;
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
        Msg m{};
        int64_t rx = 0;
        if (recv_stamped(fd, &m, sizeof m, 0, &rx) == sizeof m) {
            if (per_tag[m.tag]++ && m.seq < last_seq[m.tag])
                inversions++;
            last_seq[m.tag] = std::max(last_seq[m.tag], m.seq);
            if (rx)
                lat_us.push_back(static_cast<double>(rx - m.sent_ns) / 1000);
            any = true;
        }
    }
    print_latencies(lat_us);
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
        Msg m = stamped(tag, static_cast<uint32_t>(i));
        if (sendto(fd, &m, sizeof m, 0, reinterpret_cast<sockaddr*>(&dst), len) == sizeof m)
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

const char* errname(int e) {
    return strerrorname_np(e) ? strerrorname_np(e) : "E?";
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
            results[errname(errno)]++;
        close(fd);
    }
    for (auto& [k, v] : results)
        printf("%s %ld\n", k.c_str(), v);
    return 0;
}

// A UDP connect() needs no peer: it only runs the connect hooks and a route
// lookup, so it shows from moment to moment whether net.connect is live.
int udp_connect_every(const char* ip, int port, int total_ms, int interval_ms) {
    socklen_t len;
    auto dst = addr_of(ip, port, &len);
    auto start = clock_type::now();
    while (ms_since(start) < total_ms) {
        double at = ms_since(start);
        int fd = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        bool ok = connect(fd, reinterpret_cast<sockaddr*>(&dst), len) == 0;
        const char* name = ok ? "ok" : errname(errno);
        close(fd);
        printf("at %.0f %s\n", at, name);
        fflush(stdout);
        usleep(static_cast<useconds_t>(interval_ms) * 1000);
    }
    return 0;
}

int64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

volatile sig_atomic_t terminated = 0;

// SIGTERM ends a timed loop early, its results printed as at its end (a
// test's load runs until the sessions it watches are over).
void end_on_sigterm() {
    struct sigaction sa {};
    sa.sa_handler = [](int) { terminated = 1; };
    sigaction(SIGTERM, &sa, nullptr);
}

// UDP connect()s on one socket (connecting again is allowed) for total_ms.
// watch: every run of consecutive failures is printed with the monotonic
// times its first and last failed calls started, so that a test can tell
// whether any call that started after some instant failed.
int connect_for(const char* ip, int port, int total_ms, int gap_us, bool watch) {
    socklen_t len;
    auto dst = addr_of(ip, port, &len);
    int fd = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    std::map<std::string, long> results;
    int64_t first = 0, last = 0;
    long count = 0;
    int run_errno = 0;
    auto end_run = [&] {
        if (count)
            printf("run %lld %lld %ld %s\n", static_cast<long long>(first), static_cast<long long>(last), count,
                   errname(run_errno));
        count = 0;
    };
    end_on_sigterm();
    if (watch) {
        printf("ready\n");
        fflush(stdout);
    }
    auto start = clock_type::now();
    while (ms_since(start) < total_ms && !terminated) {
        int64_t t = monotonic_ns();
        if (connect(fd, reinterpret_cast<sockaddr*>(&dst), len) == 0) {
            results["ok"]++;
            if (watch)
                end_run();
        } else {
            int e = errno;
            results[errname(e)]++;
            if (watch && count && e != run_errno)
                end_run();
            if (!count)
                first = t;
            last = t;
            run_errno = e;
            count++;
        }
        if (gap_us > 0)
            usleep(static_cast<useconds_t>(gap_us));
    }
    if (watch)
        end_run();
    close(fd);
    for (auto& [k, v] : results)
        printf("%s %ld\n", k.c_str(), v);
    return 0;
}

int udp_echo(int port, int idle_ms, int max_ms) {
    int fd = bound_socket(SOCK_DGRAM, port);
    enable_rx_timestamps(fd);
    printf("ready\n");
    fflush(stdout);
    std::vector<double> lat_us;
    auto start = clock_type::now();
    bool any = false;
    while (ms_since(start) < max_ms) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, any ? idle_ms : 100) <= 0) {
            if (any)
                break;
            continue;
        }
        Msg m{};
        int64_t rx = 0;
        sockaddr_storage from{};
        socklen_t fl = sizeof from;
        if (recv_stamped(fd, &m, sizeof m, 0, &rx, &from, &fl) != sizeof m)
            continue;
        any = true;
        if (rx)
            lat_us.push_back(static_cast<double>(rx - m.sent_ns) / 1000);
        sendto(fd, &m, sizeof m, 0, reinterpret_cast<sockaddr*>(&from), fl);
    }
    print_latencies(lat_us);
    return 0;
}

// Requests whose send() returned more than 2 ms after their timestamp was
// taken: the sender itself was held up (on an emulated CPU, a vCPU thread
// descheduled by the host for a whole host tick), so the receiver's one-way
// figure for them includes that, whatever the network did.
constexpr int64_t stall_ns = 2000000;

void print_rtts(std::vector<double> rtt, long lost, const std::vector<long>& stalled) {
    std::sort(rtt.begin(), rtt.end());
    auto q = [&](double x) { return rtt.empty() ? 0.0 : rtt[static_cast<size_t>(x * (rtt.size() - 1))]; };
    printf("p50_us %.1f p99_us %.1f lost %ld\nstalled", q(0.5), q(0.99), lost);
    for (long i : stalled)
        printf(" %ld", i);
    printf("\n");
}

int udp_ping(const char* ip, int port, long n, int timeout_ms) {
    socklen_t len;
    auto dst = addr_of(ip, port, &len);
    int fd = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    connect(fd, reinterpret_cast<sockaddr*>(&dst), len);
    std::vector<double> rtt;
    std::vector<long> stalled;
    long lost = 0;
    for (long i = 0; i < n; i++) {
        auto t0 = clock_type::now();
        Msg m = stamped(0, static_cast<uint32_t>(i));
        send(fd, &m, sizeof m, 0);
        if (realtime_ns() - m.sent_ns > stall_ns)
            stalled.push_back(i);
        bool got = false;
        while (!got && ms_since(t0) < timeout_ms) {
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, static_cast<int>(std::max(1L, timeout_ms - ms_since(t0)))) <= 0)
                break;
            Msg back{};
            if (recv(fd, &back, sizeof back, 0) == sizeof back && back.seq == m.seq)
                got = true;
        }
        if (got)
            rtt.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
        else
            lost++;
    }
    print_rtts(rtt, lost, stalled);
    return 0;
}

// One connection; each record is echoed back. Ends at the peer's close.
int tcp_echo(int port, int max_ms) {
    int lfd = bound_socket(SOCK_STREAM, port);
    // On the listener, so that timestamping is on before the first segment
    // arrives (accepted sockets inherit it).
    enable_rx_timestamps(lfd);
    listen(lfd, 1);
    printf("ready\n");
    fflush(stdout);
    pollfd p{lfd, POLLIN, 0};
    if (poll(&p, 1, max_ms) <= 0)
        return 1;
    int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0)
        return 1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{max_ms / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::vector<double> lat_us;
    Msg m{};
    int64_t rx = 0;
    // One record in flight at a time (the client waits for each echo), so
    // each read returns one segment and its timestamp.
    while (recv_stamped(fd, &m, sizeof m, MSG_WAITALL, &rx) == sizeof m) {
        if (rx)
            lat_us.push_back(static_cast<double>(rx - m.sent_ns) / 1000);
        if (send(fd, &m, sizeof m, MSG_NOSIGNAL) != sizeof m)
            break;
    }
    print_latencies(lat_us);
    return 0;
}

int tcp_ping(const char* ip, int port, long n, int timeout_ms) {
    socklen_t len;
    auto dst = addr_of(ip, port, &len);
    int fd = socket(dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&dst), len)) {
        perror("connect");
        return 1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::vector<double> rtt;
    std::vector<long> stalled;
    long lost = 0;
    for (long i = 0; i < n; i++) {
        auto t0 = clock_type::now();
        Msg m = stamped(0, static_cast<uint32_t>(i)), back{};
        bool sent = send(fd, &m, sizeof m, MSG_NOSIGNAL) == sizeof m;
        if (sent && realtime_ns() - m.sent_ns > stall_ns)
            stalled.push_back(i);
        if (!sent || recv(fd, &back, sizeof back, MSG_WAITALL) != sizeof back || back.seq != m.seq) {
            lost = n - i; // a stream that failed once stays failed
            break;
        }
        rtt.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
    }
    close(fd);
    print_rtts(rtt, lost, stalled);
    return 0;
}

int dns_flood(const char* ip, int port, long n, long pps, const std::string& name, int wait_ms) {
    if (n < 1 || n > 60000) {
        fprintf(stderr, "dns-flood: 1 to 60000 queries (one id each, and ids for the end marker)\n");
        return 2;
    }
    socklen_t len;
    auto dst = addr_of(ip, port, &len);
    int fd = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&dst), len) != 0) {
        perror("connect");
        return 1;
    }
    // Room for every answer of a stalled second (emulated CPUs stall): as
    // root past rmem_max. What the socket still drops, the kernel counts
    // (SK_MEMINFO_DROPS, printed as 'dropped').
    int rcvbuf = 8 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    std::vector<int> rcode(static_cast<size_t>(n), -1); // -1: no answer (yet)
    long sent = 0, errors = 0, mismatched = 0, answered = 0;
    bool marker_answered = false;
    auto drain = [&] {
        uint8_t buf[1500];
        ssize_t r;
        while ((r = recv(fd, buf, sizeof buf, 0)) >= 12) {
            size_t id = static_cast<size_t>(buf[0] << 8 | buf[1]);
            if (id >= rcode.size() && (buf[2] & 0x80))
                marker_answered = true; // an end marker's (ids N and up)
            else if (id < rcode.size() && (buf[2] & 0x80) && rcode[id] < 0) {
                rcode[id] = buf[3] & 0x0f;
                answered++;
            } else
                mismatched++;
        }
    };
    end_on_sigterm();
    auto start = clock_type::now();
    long asked = n;
    for (long i = 0; i < n; i++) {
        if (terminated) {
            asked = i;
            break;
        }
        auto due = start + std::chrono::nanoseconds(i * 1000000000L / pps);
        while (clock_type::now() < due)
            drain();
        auto q = faultline::test::DnsMessage().name(name).id(static_cast<uint16_t>(i)).build(); // A, IN, RD
        if (send(fd, q.data(), q.size(), 0) == static_cast<ssize_t>(q.size()))
            sent++;
        else
            errors++;
        drain();
    }
    // The last answers. A server that fell behind (dnsmasq on a stalled
    // emulated CPU) still answers a burst seconds later, so no fixed window
    // tells "late" from "lost". The end marker does: one server thread
    // answers in the order the queries came, so once the marker's answer is
    // in, every earlier answer has been sent; what is still out is lost
    // (WAIT_MS/10 more for answers that crossed another CPU's backlog). A
    // lost marker is sent again, with the next id, every WAIT_MS, for a
    // minute at most.
    auto quiet = std::chrono::milliseconds(wait_ms);
    auto limit = clock_type::now() + std::chrono::seconds(60);
    auto last = clock_type::now();
    uint16_t marker_id = static_cast<uint16_t>(n);
    auto send_marker = [&] {
        auto q = faultline::test::DnsMessage().name("flood-end.invalid").id(marker_id++).build();
        (void)send(fd, q.data(), q.size(), 0);
    };
    send_marker();
    auto marker_sent = clock_type::now();
    while (clock_type::now() < limit) {
        auto now = clock_type::now();
        if (marker_answered && (answered == asked || now - last >= quiet / 10))
            break;
        if (!marker_answered && now - marker_sent >= quiet && marker_id < 65535) {
            send_marker();
            marker_sent = now;
        }
        pollfd p{fd, POLLIN, 0};
        poll(&p, 1, 10);
        long before = answered;
        bool had_marker = marker_answered;
        drain();
        if (answered > before || marker_answered != had_marker)
            last = clock_type::now();
    }
    std::map<int, long> by;
    rcode.resize(static_cast<size_t>(asked));
    for (int r : rcode)
        by[r]++;
    uint32_t mem[SK_MEMINFO_VARS] = {};
    socklen_t mlen = sizeof mem;
    long dropped = getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &mlen) == 0 ? mem[SK_MEMINFO_DROPS] : -1;
    printf("sent %ld errors %ld answered %ld unanswered %ld noerror %ld nxdomain %ld servfail %ld refused %ld "
           "mismatched %ld dropped %ld marker %d\n",
           sent, errors, asked - by[-1], by[-1], by[0], by[3], by[2], by[5], mismatched, dropped,
           marker_answered ? 1 : 0);
    return 0;
}

int resolve(const char* name) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    auto start = clock_type::now();
    int rc = getaddrinfo(name, nullptr, &hints, &res);
    long ms = ms_since(start);
    if (rc != 0) {
        const char* code = rc == EAI_AGAIN ? "EAI_AGAIN" : rc == EAI_NONAME ? "EAI_NONAME" : "EAI_OTHER";
        printf("eai %s (%s) ms %ld\n", code, gai_strerror(rc), ms);
        return 0;
    }
    char text[INET6_ADDRSTRLEN] = "?";
    for (auto* a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, text, sizeof text);
            break;
        }
    freeaddrinfo(res);
    printf("ok %s ms %ld\n", text, ms);
    return 0;
}

// The mmap modes' outcomes.
struct MmapCounts {
    long ok = 0, enomem = 0, other = 0;
    // One private writable anonymous mapping, unmapped again. The raw
    // syscall: no libc wrapper between the program and the kernel.
    void call(long bytes) {
        long p = syscall(SYS_mmap, nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p < 0 && errno == ENOMEM)
            enomem++;
        else if (p < 0)
            other++;
        else {
            ok++;
            syscall(SYS_munmap, p, bytes);
        }
    }
    void print() const { printf("calls %ld ok %ld enomem %ld other %ld\n", ok + enomem + other, ok, enomem, other); }
};

int mmap_loop(long n, long bytes) {
    MmapCounts c;
    for (long i = 0; i < n; i++)
        c.call(bytes);
    c.print();
    return 0;
}

int mmap_for(int total_ms, long bytes, int gap_us) {
    MmapCounts c;
    end_on_sigterm();
    auto start = clock_type::now();
    while (ms_since(start) < total_ms && !terminated) {
        c.call(bytes);
        if (gap_us > 0)
            usleep(static_cast<useconds_t>(gap_us));
    }
    c.print();
    return 0;
}

int malloc_loop(long n, long bytes) {
    // A fixed threshold: glibc otherwise raises it after the first free of
    // an mmapped block and serves the rest from its heap, without a syscall.
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    long ok = 0, null = 0, other = 0;
    for (long i = 0; i < n; i++) {
        errno = 0;
        void* p = malloc(static_cast<size_t>(bytes));
        if (!p && errno == ENOMEM)
            null++;
        else if (!p)
            other++;
        else {
            ok++;
            static_cast<volatile char*>(p)[0] = 1;
            free(p);
        }
    }
    printf("calls %ld ok %ld null %ld other %ld\n", n, ok, null, other);
    return 0;
}

// A UDP socket on 0.0.0.0:lport in the port's SO_REUSEPORT group, made while
// this process is in cgroup `cg` (a socket belongs to its creator's cgroup).
int reuseport_socket(const std::string& cg, int lport) {
    FILE* f = fopen((cg + "/cgroup.procs").c_str(), "w");
    if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f) != 0) {
        perror(cg.c_str());
        return -1;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(lport));
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        perror("bind");
        return -1;
    }
    return fd;
}

int dns_reuseport(const char* netns, const char* server, const std::string& name, int lport, const std::string& target,
                  const std::string& sibling) {
    int nfd = open(netns, O_RDONLY | O_CLOEXEC);
    if (nfd < 0 || setns(nfd, CLONE_NEWNET) != 0) {
        perror(netns);
        return 1;
    }
    close(nfd);
    socklen_t len;
    auto dst = addr_of(server, 53, &len);
    int sib = -1;
    if (sibling != "-") {
        sib = reuseport_socket(sibling, lport);
        if (sib < 0 || connect(sib, reinterpret_cast<sockaddr*>(&dst), len) != 0) {
            perror("sibling socket");
            return 1;
        }
    }
    int tgt = reuseport_socket(target, lport);
    if (tgt < 0)
        return 1;
    auto q = faultline::test::DnsMessage().name(name).id(0x4242).build();
    if (sendto(tgt, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&dst), len) != static_cast<ssize_t>(q.size())) {
        perror("sendto");
        return 1;
    }
    auto start = clock_type::now();
    while (ms_since(start) < 2000) {
        pollfd p[2] = {{tgt, POLLIN, 0}, {sib, POLLIN, 0}};
        if (poll(p, sib >= 0 ? 2 : 1, 50) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            uint8_t buf[1500];
            if (!(p[i].revents & POLLIN))
                continue;
            ssize_t r = recv(p[i].fd, buf, sizeof buf, 0);
            if (r >= 12 && (buf[2] & 0x80))
                printf("%s rcode %d\n", i == 0 ? "target" : "sibling", buf[3] & 0x0f);
        }
    }
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
    if (mode == "udp-connect-every" && argc == 6)
        return udp_connect_every(arg(2), atoi(arg(3)), atoi(arg(4)), atoi(arg(5)));
    if ((mode == "connect-for" || mode == "connect-watch") && argc == 6)
        return connect_for(arg(2), atoi(arg(3)), atoi(arg(4)), atoi(arg(5)), mode == "connect-watch");
    if (mode == "mmap-for" && argc == 5)
        return mmap_for(atoi(arg(2)), atol(arg(3)), atoi(arg(4)));
    if (mode == "udp-echo" && argc == 5)
        return udp_echo(atoi(arg(2)), atoi(arg(3)), atoi(arg(4)));
    if (mode == "udp-ping" && argc == 6)
        return udp_ping(arg(2), atoi(arg(3)), atol(arg(4)), atoi(arg(5)));
    if (mode == "tcp-echo" && argc == 4)
        return tcp_echo(atoi(arg(2)), atoi(arg(3)));
    if (mode == "tcp-ping" && argc == 6)
        return tcp_ping(arg(2), atoi(arg(3)), atol(arg(4)), atoi(arg(5)));
    if (mode == "dns-flood" && argc == 8)
        return dns_flood(arg(2), atoi(arg(3)), atol(arg(4)), atol(arg(5)), arg(6), atoi(arg(7)));
    if (mode == "dns-reuseport" && argc == 8)
        return dns_reuseport(arg(2), arg(3), arg(4), atoi(arg(5)), arg(6), arg(7));
    if (mode == "resolve" && argc == 3)
        return resolve(arg(2));
    if (mode == "mmap" && argc == 4)
        return mmap_loop(atol(arg(2)), atol(arg(3)));
    if (mode == "malloc" && argc == 4)
        return malloc_loop(atol(arg(2)), atol(arg(3)));
    fprintf(stderr, "usage: see the header of tests/tools/fl_traffic.cpp\n");
    return 2;
}
