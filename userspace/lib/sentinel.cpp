// SPDX-License-Identifier: Apache-2.0
#include "faultline/sentinel.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "faultline/error.hpp"
#include "faultline/state.hpp"

namespace faultline {
namespace {

pid_t g_pid = 0;   // the sentinel
pid_t g_owner = 0; // the process that started it (a fork has none)
int g_watch = -1;  // our end of the pipe it watches

// Closes every descriptor but stderr and `keep`: nothing of the loader's
// (BPF links, maps, sockets) may live on in the sentinel.
void close_all_but(int keep_a, int keep_b) {
    std::vector<int> fds;
    if (DIR* d = opendir("/proc/self/fd")) {
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.')
                fds.push_back(atoi(e->d_name));
        closedir(d);
    } else {
        for (int fd = 3; fd < 4096; fd++)
            fds.push_back(fd);
    }
    for (int fd : fds)
        if (fd > 2 && fd != keep_a && fd != keep_b)
            close(fd);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        if (null > 2 && null != keep_a && null != keep_b)
            close(null);
    }
}

[[noreturn]] void sentinel_body(int watch, int ready, pid_t loader, uint64_t loader_start) {
    setsid();
    prctl(PR_SET_NAME, "fl-sentinel");
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU})
        sigaction(sig, &ign, nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    close_all_but(watch, ready);
    char c = 1;
    if (write(ready, &c, 1) != 1) {
        // The loader reads no byte and ends without changing anything;
        // waiting for it here would wait for a process that waits for us.
        fmt::print(stderr, "faultline: sentinel: cannot tell the loader it started: {}\n", std::strerror(errno));
        _exit(1);
    }
    close(ready);
    // Blocks until every copy of the write end is closed (the loader died;
    // a child it forked holds a copy only until its exec), or the loader
    // says it is done ('D', from release_sentinel(): its sessions have ended
    // and it waits for us to exit).
    bool released = false;
    for (;;) {
        ssize_t n = read(watch, &c, 1);
        if (n == 1 && c == 'D') {
            released = true;
            break;
        }
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
    }
    // A dying loader closes its files before it is gone: wait until it
    // really is, so that a live session is never reaped.
    while (!released && process_alive(loader, loader_start))
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    try {
        StateLock lock;
        std::vector<std::string> done;
        for (const auto& r : list_records())
            if (r.pid == loader && r.pid_start == loader_start)
                for (auto& d : reap_record(r))
                    done.push_back(std::move(d));
        for (auto& d : reap_stale_sessions()) // its .tmp files, and any other dead loader's
            done.push_back(std::move(d));
        std::string what;
        for (const auto& d : done)
            if (d.rfind("record ", 0) != 0)
                what += (what.empty() ? "" : ", ") + d;
        if (!what.empty())
            fmt::print(stderr, "faultline: sentinel: loader {} is gone; removed {}\n", loader, what);
    } catch (const std::exception& e) {
        fmt::print(stderr, "faultline: sentinel: loader {} is gone; cleaning up failed: {} (`faultline gc` retries)\n",
                   loader, e.what());
        _exit(1);
    }
    _exit(0);
}

// In every child this process forks: the pipe is the loader's alone, so
// that a child that outlives the loader cannot keep the sentinel waiting.
void forget_in_child() {
    if (g_watch >= 0)
        close(g_watch);
    g_watch = -1;
}

} // namespace

void ensure_sentinel() {
    if (g_pid > 0 && g_owner == getpid())
        return;
    int watch[2], ready[2];
    if (pipe2(watch, O_CLOEXEC))
        throw_errno("start the sentinel: pipe", errno);
    if (pipe2(ready, O_CLOEXEC)) {
        int err = errno;
        close(watch[0]);
        close(watch[1]);
        throw_errno("start the sentinel: pipe", err);
    }
    pid_t loader = getpid();
    uint64_t start = process_start_time(loader);
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        for (int fd : {watch[0], watch[1], ready[0], ready[1]})
            close(fd);
        throw_errno("start the sentinel: fork", err);
    }
    if (pid == 0)
        sentinel_body(watch[0], ready[1], loader, start);
    close(watch[0]);
    close(ready[1]);
    char c = 0;
    ssize_t n;
    do
        n = read(ready[0], &c, 1);
    while (n < 0 && errno == EINTR);
    close(ready[0]);
    if (n != 1) {
        // It watches nothing yet (this process has changed nothing): it is
        // killed, not waited for, whatever state it is in.
        close(watch[1]);
        kill(pid, SIGKILL);
        while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        throw Error(ErrorKind::system, "the sentinel did not start",
                    "faultline starts a watchdog process before changing anything outside BPF; see the message above");
    }
    g_pid = pid;
    g_owner = loader;
    g_watch = watch[1]; // kept open (close-on-exec) for the life of this process
    static bool registered = false;
    if (!registered) {
        pthread_atfork(nullptr, nullptr, forget_in_child);
        atexit(release_sentinel); // a normal exit: the sentinel ends before we do
        registered = true;
    }
}

void check_sentinel() {
    if (g_pid <= 0 || g_owner != getpid())
        return;
    int st = 0;
    pid_t w = waitpid(g_pid, &st, WNOHANG);
    if (w == g_pid || (w < 0 && errno == ECHILD)) {
        pid_t was = g_pid;
        g_pid = 0;
        throw Error(ErrorKind::system,
                    fmt::format("the sentinel (pid {}) is gone: nothing would undo this session's changes if faultline "
                                "were killed now, so it ends",
                                was),
                    "do not kill the fl-sentinel process of a running faultline; start the experiment again");
    }
}

void release_sentinel() {
    if (g_pid <= 0 || g_owner != getpid() || g_watch < 0)
        return;
    char d = 'D';
    (void)!write(g_watch, &d, 1);
    close(g_watch);
    g_watch = -1;
    // Bounded: a sentinel that cannot finish is left to finish alone.
    for (int i = 0; i < 500; i++) {
        pid_t w = waitpid(g_pid, nullptr, WNOHANG);
        if (w == g_pid || (w < 0 && errno != EINTR))
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    g_pid = 0;
}

pid_t sentinel_pid() {
    return g_owner == getpid() ? g_pid : 0;
}

} // namespace faultline
