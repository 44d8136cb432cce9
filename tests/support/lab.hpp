// SPDX-License-Identifier: Apache-2.0
// Integration-test lab: two network namespaces joined by a veth pair
// (198.18.0.1 <-> 198.18.0.2), scratch cgroups, background processes, and a
// check that nothing faultline made is left behind.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <set>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "faultline/cgroup.hpp"

namespace faultline::test {

// Runs a shell command, returns its stdout (stderr goes to ours) and status.
struct Output {
    int status = -1;
    std::string out;
};

inline Output sh(const std::string& cmd) {
    Output o;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        o.out.append(buf, n);
    int st = pclose(p);
    o.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return o;
}

// A background process with its stdout (and optionally stderr) captured,
// started in a given cgroup.
class Proc {
  public:
    Proc(const std::vector<std::string>& argv, const std::string& cgroup = {}, bool capture_stderr = false) {
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC))
            throw std::runtime_error("pipe");
        pid_ = fork();
        if (pid_ == 0) {
            dup2(pfd[1], 1);
            if (capture_stderr)
                dup2(pfd[1], 2);
            if (!cgroup.empty())
                cgroup_move(cgroup, getpid());
            std::vector<char*> a;
            for (const auto& s : argv)
                a.push_back(const_cast<char*>(s.c_str()));
            a.push_back(nullptr);
            execvp(a[0], a.data());
            _exit(127);
        }
        close(pfd[1]);
        fd_ = pfd[0];
    }
    // A process still running (a test that failed early): SIGTERM first, so
    // that a faultline under test cleans up after itself, SIGKILL after 5 s.
    ~Proc() {
        if (pid_ > 0 && !reaped_) {
            kill(pid_, SIGTERM);
            for (int i = 0; i < 500 && waitpid(pid_, nullptr, WNOHANG) == 0; i++)
                usleep(10000);
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (fd_ >= 0)
            close(fd_);
    }
    pid_t pid() const { return pid_; }

    // Reads until `token` appears in the output or the timeout passes.
    bool wait_for(const std::string& token, std::chrono::milliseconds timeout) {
        auto end = std::chrono::steady_clock::now() + timeout;
        while (out_.find(token) == std::string::npos) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !read_some(static_cast<int>(left.count())))
                return out_.find(token) != std::string::npos;
        }
        return true;
    }
    // Waits for exit (bounded), returns the exit status, all output read.
    int wait(std::chrono::milliseconds timeout = std::chrono::seconds(120)) {
        auto end = std::chrono::steady_clock::now() + timeout;
        // Read to EOF (every writer gone), bounded by the timeout.
        while (!eof_ && std::chrono::steady_clock::now() < end)
            read_some(100);
        int st = 0;
        if (waitpid(pid_, &st, WNOHANG) != pid_) {
            while (std::chrono::steady_clock::now() < end && waitpid(pid_, &st, WNOHANG) != pid_)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            if (std::chrono::steady_clock::now() >= end) {
                kill(pid_, SIGKILL);
                waitpid(pid_, &st, 0);
            }
        }
        reaped_ = true;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    const std::string& out() const { return out_; }

  private:
    bool read_some(int timeout_ms) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0)
            return false;
        char buf[4096];
        ssize_t n = read(fd_, buf, sizeof buf);
        if (n <= 0) {
            eof_ = n == 0;
            return false;
        }
        out_.append(buf, static_cast<size_t>(n));
        return true;
    }
    pid_t pid_ = -1;
    int fd_ = -1;
    bool reaped_ = false;
    bool eof_ = false;
    std::string out_;
};

// Two namespaces and a veth pair between them, removed on destruction.
class NetLab {
  public:
    // txq > 1: both veth ends get that many TX and RX queues; `suffix` tells
    // a second lab of the same test apart.
    explicit NetLab(int txq = 1, const std::string& suffix = "") : tag_(std::to_string(getpid()) + suffix) {
        a = "fl-a-" + tag_;
        b = "fl-b-" + tag_;
        std::string q = txq > 1 ? fmt::format("numtxqueues {0} numrxqueues {0} ", txq) : "";
        std::string cmds =
            fmt::format("ip netns add {a} && ip netns add {b} && "
                        "ip link add fla{t} {q}netns {a} type veth peer name flb{t} {q}netns {b} && "
                        "ip -n {a} addr add 198.18.0.1/24 dev fla{t} && ip -n {b} addr add 198.18.0.2/24 dev flb{t} && "
                        "ip -n {a} link set lo up && ip -n {b} link set lo up && "
                        "ip -n {a} link set fla{t} up && ip -n {b} link set flb{t} up",
                        fmt::arg("a", a), fmt::arg("b", b), fmt::arg("t", tag_), fmt::arg("q", q));
        ok_ = sh(cmds + " 2>&1").status == 0;
    }
    ~NetLab() { sh(fmt::format("ip netns del {} 2>/dev/null; ip netns del {} 2>/dev/null", a, b)); }
    bool ok() const { return ok_; }
    // argv prefix that runs a command inside namespace ns
    std::vector<std::string> in(const std::string& ns, std::vector<std::string> cmd) const {
        std::vector<std::string> v = {"ip", "netns", "exec", ns};
        v.insert(v.end(), cmd.begin(), cmd.end());
        return v;
    }
    std::string a, b;
    // the veth ends in namespaces a and b
    std::string dev_a() const { return "fla" + tag_; }
    std::string dev_b() const { return "flb" + tag_; }

  private:
    std::string tag_;
    bool ok_ = false;
};

// Everything faultline could leave behind, one line per item: cgroups it
// names faultline-* and the processes in the ones it makes, session records
// and half-written ones, BPF links and programs named fl_*, faultline's fq
// root qdiscs (handle f17e:) and per-queue fqs (eXXX:), clsact qdiscs and BPF tc filters named fl_* in
// this and every named network namespace, and sentinels whose loader is
// gone. Tests compare a snapshot taken before with one taken after, so that
// other faultline users on the machine do not count against them.
inline std::set<std::string> faultline_objects() {
    // One shell, few processes: under QEMU TCG each process costs tens of
    // milliseconds, and every integration test takes three snapshots.
    // A tc filter left on a device keeps its program loaded: the fl_
    // program lines show it without listing every device's filters.
    static const std::string script = R"(
root=$1
for c in $(find "$root" -maxdepth 3 -type d -name 'faultline-*' 2>/dev/null); do
  echo "cgroup $c"
  case ${c##*/} in faultline-exec-*|faultline-run-*|faultline-demo-*|faultline-probe-*)
    while read -r p; do echo "process $c $p"; done < "$c/cgroup.procs" ;;
  esac
done
for f in /run/faultline/* /run/faultline/.[!.]*; do [ -e "$f" ] && echo "record ${f##*/}"; done
bpftool link list 2>/dev/null | grep -E 'fl_' | sed 's/^/link /'
bpftool prog list 2>/dev/null | grep -E 'name fl_' | sed 's/^/prog /'
for ns in - $(ip netns list 2>/dev/null | cut -d' ' -f1); do
  case $ns in -) n= ;; fl-*) n="-n $ns"; echo "netns $ns" ;; *) n="-n $ns" ;; esac
  tc $n qdisc show 2>/dev/null | grep -E 'qdisc (fq (f17e|e[0-9a-f]{3}):|clsact)' | sed "s|^|tc $ns |"
done
for d in /proc/[0-9]*; do
  read -r c < "$d/comm" || continue
  [ "$c" = fl-sentinel ] || continue
  set -- $(cat "$d/stat"); st=$3; pp=$4
  [ "$st" != Z ] && { [ "$pp" = 1 ] || ! kill -0 "$pp"; } && echo "sentinel ${d#/proc/}"
done
true)";
    std::set<std::string> items;
    std::string quoted = "'";
    for (char c : script)
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    quoted += "'";
    std::istringstream in(sh("sh -c " + quoted + " sh " + cgroup2_mount() + " 2>/dev/null").out);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty())
            items.insert(line);
    return items;
}

// What is in `after` but not in `before`, polled for up to 2 s because the
// kernel frees programs asynchronously after their last link is closed.
inline std::string new_leftovers(const std::set<std::string>& before) {
    std::string r;
    for (int i = 0; i < 40; i++) {
        r.clear();
        for (const auto& item : faultline_objects())
            if (!before.count(item))
                r += item + "\n";
        if (r.empty())
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return r;
}

} // namespace faultline::test
