// SPDX-License-Identifier: Apache-2.0
// A minimal HTTP/1.0 responder for one resource. Debian ships cpp-httplib
// only as a shared library, which the static faultline (the one the VM
// matrix runs) cannot link; a scrape endpoint needs no more than this.
#include "faultline/metrics.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

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

void write_all(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        off += static_cast<size_t>(n);
    }
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

MetricsServer::MetricsServer(const std::string& listen) {
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
    fd_ = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

void MetricsServer::publish(std::string text) {
    std::lock_guard<std::mutex> l(m_);
    text_ = std::move(text);
}

void MetricsServer::serve() {
    for (;;) {
        pollfd p[2] = {{.fd = fd_, .events = POLLIN, .revents = 0}, {.fd = stop_[0], .events = POLLIN, .revents = 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (p[1].revents)
            return;
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        // One request line, within 2 s; no keep-alive.
        std::string req;
        char buf[1024];
        while (req.find("\r\n\r\n") == std::string::npos && req.find("\n\n") == std::string::npos &&
               req.size() < 8192) {
            pollfd q{.fd = c, .events = POLLIN, .revents = 0};
            if (poll(&q, 1, 2000) != 1)
                break;
            ssize_t n = recv(c, buf, sizeof buf, 0);
            if (n <= 0)
                break;
            req.append(buf, static_cast<size_t>(n));
        }
        std::string body, status = "200 OK", type = "text/plain; version=0.0.4; charset=utf-8";
        if (req.rfind("GET /metrics ", 0) == 0 || req.rfind("GET /metrics?", 0) == 0) {
            std::lock_guard<std::mutex> l(m_);
            body = text_;
        } else if (req.rfind("GET / ", 0) == 0) {
            body = "faultline: counters at /metrics\n";
        } else {
            status = "404 Not Found";
            body = "only GET /metrics\n";
        }
        write_all(c, fmt::format("HTTP/1.0 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                                 status, type, body.size(), body));
        close(c);
    }
}

} // namespace faultline
