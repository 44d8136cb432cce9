// SPDX-License-Identifier: Apache-2.0
#include "faultline/steady_state.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "faultline/error.hpp"

namespace faultline {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

} // namespace

CheckResult check_command(const std::vector<std::string>& argv, Nanos timeout, const RunAs& as) {
    auto t0 = Clock::now();
    // Built before fork: this runs on the probe thread, and the child of a
    // multi-threaded process should only make plain system calls.
    std::vector<char*> a;
    for (const auto& s : argv)
        a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0)
        return {false, 0, fmt::format("fork: {}", strerror(errno))};
    if (pid == 0) {
        setpgid(0, 0);
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_UNBLOCK, &all, nullptr);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        if (become(as) != 0)
            _exit(126);
        execvp(a[0], a.data());
        _exit(127);
    }
    setpgid(pid, pid); // also from here: no race with the child's own call
    auto deadline = t0 + timeout;
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (Clock::now() >= deadline) {
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            return {false, ms_since(t0), fmt::format("timed out after {}", format_duration(timeout))};
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    double ms = ms_since(t0);
    if (WIFEXITED(status))
        return {WEXITSTATUS(status) == 0, ms, fmt::format("exit {}", WEXITSTATUS(status))};
    return {false, ms, fmt::format("killed by signal {}", WTERMSIG(status))};
}

CheckResult check_http(const std::string& url, Nanos timeout) {
    auto t0 = Clock::now();
    auto fail = [&](std::string why) { return CheckResult{false, ms_since(t0), std::move(why)}; };
    // http://HOST[:PORT][/PATH]
    std::string rest = url.substr(url.rfind("http://", 0) == 0 ? 7 : 0);
    size_t slash = rest.find('/');
    std::string hostport = rest.substr(0, slash), path = slash == std::string::npos ? "/" : rest.substr(slash);
    std::string host = hostport, port = "80";
    if (!hostport.empty() && hostport[0] == '[') {
        size_t close = hostport.find(']');
        host = hostport.substr(1, close - 1);
        if (close + 1 < hostport.size() && hostport[close + 1] == ':')
            port = hostport.substr(close + 2);
    } else if (size_t colon = hostport.rfind(':'); colon != std::string::npos) {
        host = hostport.substr(0, colon);
        port = hostport.substr(colon + 1);
    }
    if (host == "localhost")
        host = "127.0.0.1";
    sockaddr_storage ss{};
    socklen_t len = 0;
    int portn = atoi(port.c_str());
    if (portn <= 0 || portn > 65535)
        return fail("bad port in " + url);
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(portn));
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(portn));
        len = sizeof *v6;
    } else {
        return fail("bad host in " + url);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(fmt::format("socket: {}", strerror(errno)));
    auto left_ms = [&] {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(t0 + timeout - Clock::now()).count();
        return static_cast<int>(std::max<long long>(left, 0));
    };
    auto wait = [&](short ev) {
        pollfd p{.fd = fd, .events = ev, .revents = 0};
        return poll(&p, 1, left_ms()) == 1;
    };
    CheckResult r;
    if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
        r = fail(fmt::format("connect: {}", strerror(errno)));
    } else if (!wait(POLLOUT)) {
        r = fail(fmt::format("timed out after {} (connect)", format_duration(timeout)));
    } else {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        std::string req = fmt::format("GET {} HTTP/1.0\r\nHost: {}\r\nConnection: close\r\n\r\n", path, hostport);
        if (err) {
            r = fail(fmt::format("connect: {}", strerror(err)));
        } else if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
            r = fail(fmt::format("send: {}", strerror(errno)));
        } else {
            std::string head;
            while (head.find("\r\n") == std::string::npos && head.size() < 4096) {
                if (!wait(POLLIN)) {
                    r = fail(fmt::format("timed out after {} (response)", format_duration(timeout)));
                    break;
                }
                char buf[1024];
                ssize_t n = recv(fd, buf, sizeof buf, 0);
                if (n <= 0) {
                    r = fail(n == 0 ? "connection closed before a status line" : strerror(errno));
                    break;
                }
                head.append(buf, static_cast<size_t>(n));
            }
            if (r.detail.empty()) {
                int code = 0;
                if (sscanf(head.c_str(), "HTTP/%*d.%*d %d", &code) != 1)
                    r = fail("not an HTTP response");
                else
                    r = {code >= 200 && code < 400, ms_since(t0), fmt::format("HTTP {}", code)};
            }
        }
    }
    close(fd);
    return r;
}

} // namespace faultline
