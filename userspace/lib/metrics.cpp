// SPDX-License-Identifier: Apache-2.0
// A minimal HTTP/1.0 responder for one resource. Debian ships cpp-httplib
// only as a shared library, which the static faultline (the one the VM
// matrix runs) cannot link; a scrape endpoint needs no more than this.
#include "faultline/metrics.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "faultline/error.hpp"

namespace faultline {
namespace {

std::string label_value(const std::string& v) {
    std::string o;
    for (char c : v) {
        if (c == '\\' || c == '"')
            o += '\\';
        if (c == '\n') {
            o += "\\n";
            continue;
        }
        o += c;
    }
    return o;
}

// Whether ADDR (as inet_pton read it) only reaches this machine.
bool loopback(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET)
        return (ntohl(reinterpret_cast<const sockaddr_in&>(ss).sin_addr.s_addr) >> 24) == 127;
    const auto& a6 = reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(&a6);
}

// A page in another browser tab can make the browser ask 127.0.0.1 under a
// name of its own (DNS rebinding); a scraper or curl on this machine names
// the machine. On loopback only those names are answered.
bool local_host(const std::string& h) {
    if (h.empty() || h == "localhost" || h == "[::1]")
        return true;
    in_addr a{};
    return inet_pton(AF_INET, h.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

} // namespace

std::string prometheus_label(const std::string& key, const std::string& value) {
    return fmt::format("{}=\"{}\"", key, label_value(value));
}

std::string prometheus_text(const std::vector<ExperimentStats>& stats,
                            const std::vector<std::pair<std::string, std::string>>& labels) {
    struct Metric {
        const char* name;
        const char* type;
        const char* help;
        double (*value)(const ExperimentStats&);
    };
    static const Metric metrics[] = {
        {"faultline_evaluated_total", "counter", "Events of the target cgroup the experiment saw.",
         [](const ExperimentStats& s) { return static_cast<double>(s.counters.evaluated); }},
        {"faultline_matched_total", "counter", "Events that passed the experiment's filters while it was live.",
         [](const ExperimentStats& s) { return static_cast<double>(s.counters.matched); }},
        {"faultline_injected_total", "counter", "Events the fault was applied to (would have been, in shadow mode).",
         [](const ExperimentStats& s) { return static_cast<double>(s.counters.injected); }},
        {"faultline_expired_total", "counter", "Events seen after the experiment's kernel deadline.",
         [](const ExperimentStats& s) { return static_cast<double>(s.counters.expired); }},
        {"faultline_configured_percent", "gauge", "The experiment's configured percentage.",
         [](const ExperimentStats& s) { return s.percent; }},
        {"faultline_not_held_total", "counter",
         "Delays that would have been injected but were not held: the packet left by a device without fq.",
         [](const ExperimentStats& s) { return static_cast<double>(s.counters.not_held); }},
        {"faultline_achieved_percent", "gauge", "injected / matched, in percent.",
         [](const ExperimentStats& s) { return s.achieved_percent(); }},
    };
    std::string extra;
    for (const auto& [k, v] : labels)
        extra += fmt::format(",{}=\"{}\"", k, label_value(v));
    std::string o;
    for (const auto& m : metrics) {
        o += fmt::format("# HELP {} {}\n# TYPE {} {}\n", m.name, m.help, m.name, m.type);
        for (const auto& s : stats)
            o += fmt::format("{}{{experiment=\"{}\",spec=\"{}\"{}}} {}\n", m.name, label_value(s.id),
                             label_value(s.spec), extra, m.value(s));
    }
    return o;
}

MetricsServer::MetricsServer(const std::string& listen, bool allow_public) {
    std::string host = "127.0.0.1", port = listen;
    if (!listen.empty() && listen[0] == '[') {
        size_t close = listen.find("]:");
        if (close == std::string::npos)
            throw Error(ErrorKind::usage, fmt::format("--metrics {}: expected [ADDR]:PORT", listen));
        host = listen.substr(1, close - 1);
        port = listen.substr(close + 2);
    } else if (size_t colon = listen.rfind(':'); colon != std::string::npos) {
        host = listen.substr(0, colon);
        port = listen.substr(colon + 1);
    }
    char* end = nullptr;
    long p = strtol(port.c_str(), &end, 10);
    if (port.empty() || *end || p < 1 || p > 65535)
        throw Error(ErrorKind::usage, fmt::format("--metrics {}: `{}` is not a port", listen, port),
                    "--metrics PORT or ADDR:PORT, e.g. --metrics 127.0.0.1:9464");
    sockaddr_storage ss{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(p));
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(p));
        len = sizeof *v6;
    } else {
        throw Error(ErrorKind::usage, fmt::format("--metrics {}: `{}` is not an IP address", listen, host),
                    "--metrics PORT listens on 127.0.0.1; give ADDR:PORT for another address");
    }
    public_ = !loopback(ss);
    if (public_ && !allow_public)
        throw Error(ErrorKind::usage, fmt::format("--metrics {}: {} is reachable from other machines", listen, host),
                    "the counters name the target and its faults: add --metrics-public to serve them there, or "
                    "listen on 127.0.0.1 (--metrics PORT) and let the scraper come through a tunnel");
    fd_ = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd_ < 0 || setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) || ::listen(fd_, 16) || pipe2(stop_, O_CLOEXEC)) {
        int err = errno;
        if (fd_ >= 0)
            close(fd_);
        throw Error(ErrorKind::usage, fmt::format("--metrics {}: cannot listen: {}", listen, strerror(err)),
                    "pick a free port");
    }
    address_ = ss.ss_family == AF_INET6 ? fmt::format("[{}]:{}", host, p) : fmt::format("{}:{}", host, p);
    th_ = std::thread([this] { serve(); });
}

MetricsServer::~MetricsServer() {
    if (write(stop_[1], "x", 1) < 0) {
        // the thread also ends when the pipe's write end closes below
    }
    close(stop_[1]);
    th_.join();
    close(stop_[0]);
    close(fd_);
}

std::string MetricsServer::describe() const {
    return fmt::format("metrics on http://{}/metrics{}", address_,
                       public_ ? " (--metrics-public: any host that reaches this address can read them)" : "");
}

void MetricsServer::publish(std::string text) {
    std::lock_guard<std::mutex> l(m_);
    text_ = std::move(text);
}

MetricsRequest parse_metrics_request(const std::string& req) {
    MetricsRequest r;
    size_t eol = req.find("\r\n");
    std::string line = req.substr(0, eol);
    size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    // CR, LF and NUL end lines only as CRLF (RFC 9110 5.5: never in a field)
    static const std::string stray("\r\n\0", 3);
    if (eol == std::string::npos || sp1 == std::string::npos || sp1 == sp2 ||
        line.find_first_of(stray) != std::string::npos)
        return {"400 Bad Request", ""};
    std::string version = line.substr(sp2 + 1);
    if (version != "HTTP/1.0" && version != "HTTP/1.1")
        return {version.rfind("HTTP/", 0) == 0 ? "505 HTTP Version Not Supported" : "400 Bad Request", ""};
    int hosts = 0;
    for (size_t at = eol + 2; at < req.size();) {
        size_t end = req.find("\r\n", at);
        if (end == std::string::npos || end == at)
            break; // the blank line ending the headers
        std::string h = req.substr(at, end - at);
        size_t colon = h.find(':');
        if (colon == std::string::npos || colon == 0 || h.find_first_of(stray) != std::string::npos)
            return {"400 Bad Request", ""};
        if (strncasecmp(h.c_str(), "host:", 5) == 0) {
            hosts++;
            size_t b = h.find_first_not_of(" \t", 5), e = h.find_last_not_of(" \t");
            r.host = b == std::string::npos ? "" : h.substr(b, e + 1 - b);
        }
        at = end + 2;
    }
    if (hosts > 1 || (version == "HTTP/1.1" && r.host.empty()))
        return {"400 Bad Request", ""};
    if (!r.host.empty() && r.host[0] == '[')
        r.host = r.host.substr(0, r.host.find(']') + 1);
    else if (r.host.find(':') != std::string::npos)
        r.host = r.host.substr(0, r.host.find(':'));
    for (auto& c : r.host)
        c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    return r;
}

std::string MetricsServer::respond(const std::string& req) {
    std::string body, status = "200 OK", type = "text/plain; version=0.0.4; charset=utf-8";
    const MetricsRequest r = parse_metrics_request(req);
    if (!r.bad_status.empty()) {
        status = r.bad_status;
        body = "a request is GET /metrics HTTP/1.1 with one Host header\n";
    } else if (!public_ && !local_host(r.host)) {
        status = "421 Misdirected Request";
        body = "this endpoint answers requests for localhost or 127.0.0.1 only\n";
    } else if (req.rfind("GET /metrics ", 0) == 0 || req.rfind("GET /metrics?", 0) == 0) {
        std::lock_guard<std::mutex> l(m_);
        body = text_;
    } else if (req.rfind("GET / ", 0) == 0) {
        body = "faultline: counters at /metrics\n";
    } else {
        status = "404 Not Found";
        body = "only GET /metrics\n";
    }
    return fmt::format("HTTP/1.0 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}", status,
                       type, body.size(), body);
}

// Every connection is non-blocking and has kConnDeadline from its accept
// to its last byte sent: a slow or silent client loses its connection and
// holds up neither other clients nor the end of the session (the stop pipe
// is in every poll).
void MetricsServer::serve() {
    using Clock = std::chrono::steady_clock;
    struct Conn {
        int fd;
        Clock::time_point deadline;
        std::string in, out;
        size_t sent = 0;
    };
    std::vector<Conn> conns;
    auto drop = [&](size_t i) {
        close(conns[i].fd);
        conns.erase(conns.begin() + static_cast<std::ptrdiff_t>(i));
    };
    for (;;) {
        std::vector<pollfd> p = {{.fd = stop_[0], .events = POLLIN, .revents = 0},
                                 {.fd = fd_, .events = POLLIN, .revents = 0}};
        auto now = Clock::now();
        int timeout = -1;
        for (const auto& c : conns) {
            p.push_back({.fd = c.fd, .events = static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), .revents = 0});
            auto ms = std::chrono::ceil<std::chrono::milliseconds>(c.deadline - now).count();
            timeout = timeout < 0 ? static_cast<int>(std::max<long>(ms, 0))
                                  : std::min(timeout, static_cast<int>(std::max<long>(ms, 0)));
        }
        if (conns.size() >= kMaxConns)
            p[1].events = 0; // the rest wait in the listen backlog
        if (poll(p.data(), p.size(), timeout) < 0 && errno != EINTR) {
            for (size_t i = conns.size(); i-- > 0;)
                drop(i);
            return;
        }
        if (p[0].revents) {
            for (size_t i = conns.size(); i-- > 0;)
                drop(i);
            return;
        }
        now = Clock::now();
        // Connections first (p[2 + i] is conns[i]), from the back: dropping
        // one does not move those not yet seen.
        for (size_t i = conns.size(); i-- > 0;) {
            auto& c = conns[i];
            short ev = p[2 + i].revents;
            if (ev & (POLLERR | POLLNVAL)) {
                drop(i);
                continue;
            }
            if (c.out.empty() && (ev & (POLLIN | POLLHUP))) {
                char buf[1024];
                ssize_t n = recv(c.fd, buf, sizeof buf, 0);
                if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
                    drop(i);
                    continue;
                }
                if (n > 0)
                    c.in.append(buf, static_cast<size_t>(n));
                if (c.in.find("\r\n\r\n") != std::string::npos || c.in.find("\n\n") != std::string::npos)
                    c.out = respond(c.in);
                else if (c.in.size() > kMaxRequest) {
                    drop(i);
                    continue;
                }
            } else if (!c.out.empty() && (ev & POLLOUT)) {
                ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                    drop(i);
                    continue;
                }
                if (n > 0)
                    c.sent += static_cast<size_t>(n);
                if (c.sent == c.out.size()) {
                    drop(i);
                    continue;
                }
            }
            if (now >= c.deadline)
                drop(i);
        }
        if (p[1].revents & POLLIN)
            while (conns.size() < kMaxConns) {
                int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (c < 0)
                    break;
                conns.push_back({c, Clock::now() + kConnDeadline, {}, {}});
            }
    }
}

} // namespace faultline
