// SPDX-License-Identifier: Apache-2.0
#include "faultline/cgroup.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <linux/magic.h>
#include <sched.h>
#include <sstream>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <thread>
#include <unistd.h>

#include "faultline/crashpoint.hpp"
#include "faultline/error.hpp"

namespace faultline {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

bool is_cgroup2(const std::string& path) {
    struct statfs sf {};
    return statfs(path.c_str(), &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

void write_file(const std::string& path, const std::string& data) {
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        throw_errno("open " + path, errno);
    ssize_t n = write(fd, data.data(), data.size());
    int err = errno;
    close(fd);
    if (n < 0)
        throw_errno("write " + path, err);
}

std::string normalize(std::string p) {
    while (p.size() > 1 && p.back() == '/')
        p.pop_back();
    return p;
}

} // namespace

std::string cgroup2_mount(const std::string& mountinfo) {
    // The hierarchy's mount point does not move under a running faultline:
    // read mountinfo once (callers such as the benchmark make thousands of
    // cgroups). Other mountinfo files (tests) are always read.
    static std::string cached;
    bool own = mountinfo == "/proc/self/mountinfo";
    if (own && !cached.empty())
        return cached;
    std::ifstream in(mountinfo);
    std::string line;
    while (std::getline(in, line)) {
        // id parent major:minor root mountpoint opts [optional...] - fstype source superopts
        auto sep = line.find(" - ");
        if (sep == std::string::npos)
            continue;
        std::istringstream post(line.substr(sep + 3));
        std::string fstype;
        post >> fstype;
        if (fstype != "cgroup2")
            continue;
        std::istringstream pre(line.substr(0, sep));
        std::string id, parent, dev, root, mnt;
        pre >> id >> parent >> dev >> root >> mnt;
        if (root == "/") {
            std::string m = unescape(mnt);
            if (own)
                cached = m;
            return m;
        }
    }
    throw Error(ErrorKind::unsupported, "no cgroup v2 hierarchy is mounted",
                "mount one (mount -t cgroup2 none /sys/fs/cgroup/unified); note that `ip netns exec` hides the "
                "cgroup mounts: run faultline outside it and give --netns instead");
}

CgroupRef resolve_cgroup(std::string_view user_path) {
    std::string root = normalize(cgroup2_mount());
    std::string p = normalize(std::string(user_path));
    auto hint = fmt::format("give a directory of the cgroup v2 hierarchy mounted at {}, e.g. {}/my.service "
                            "(faultline exec makes one for you)",
                            root, root);
    if (p.empty())
        throw Error(ErrorKind::usage, "empty cgroup path", hint);
    std::string full = p;
    if (p[0] != '/' || (!is_cgroup2(p) && is_cgroup2(root + p)))
        full = normalize(root + (p[0] == '/' ? "" : "/") + p);
    struct stat st {};
    if (stat(full.c_str(), &st) != 0)
        throw Error(ErrorKind::usage, fmt::format("cgroup '{}' does not exist", user_path), hint);
    if (!S_ISDIR(st.st_mode) || !is_cgroup2(full))
        throw Error(ErrorKind::usage, fmt::format("'{}' is not a cgroup v2 directory", user_path), hint);
    char real[PATH_MAX];
    if (!realpath(full.c_str(), real))
        throw_errno("realpath " + full, errno);
    std::string rp = real;
    if (rp.compare(0, root.size(), root) != 0)
        throw Error(ErrorKind::usage, fmt::format("'{}' is outside the cgroup v2 hierarchy {}", user_path, root), hint);
    CgroupRef r{.path = rp, .id = st.st_ino, .level = 0};
    for (size_t i = root.size(); i < rp.size(); i++)
        if (rp[i] == '/')
            r.level++;
    return r;
}

std::string cgroup_of(pid_t pid) {
    std::ifstream in(fmt::format("/proc/{}/cgroup", pid));
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("0::", 0) == 0)
            return line.substr(3);
    return {};
}

std::optional<ProcStat> proc_stat(pid_t pid) {
    std::ifstream in(fmt::format("/proc/{}/stat", pid));
    std::string s;
    std::getline(in, s);
    // comm may hold spaces and parentheses: it ends at the last ')'
    auto lp = s.find('('), rp = s.rfind(')');
    if (lp == std::string::npos || rp == std::string::npos || rp + 2 >= s.size())
        return std::nullopt;
    ProcStat st{.comm = s.substr(lp + 1, rp - lp - 1)};
    std::istringstream rest(s.substr(rp + 2));
    std::string field;
    for (int i = 3; i <= 22; i++) { // state is field 3, ppid 4, starttime 22
        if (!(rest >> field))
            return std::nullopt;
        if (i == 3)
            st.state = field[0];
        else if (i == 4)
            st.ppid = static_cast<pid_t>(std::strtol(field.c_str(), nullptr, 10));
    }
    st.starttime = std::strtoull(field.c_str(), nullptr, 10);
    return st;
}

std::vector<std::string> host_wide_reasons(const CgroupRef& target) {
    std::string root = normalize(cgroup2_mount());
    std::vector<std::string> out;
    if (target.level == 0 || target.path == root) {
        out.push_back("it is the root of the cgroup v2 hierarchy: every task of the host, kernel threads included");
        return out;
    }
    std::string rel = target.path.substr(root.size()); // "/a/b"
    auto contains = [&](pid_t pid) {
        std::string cg = cgroup_of(pid);
        return !cg.empty() && (cg == rel || cg.rfind(rel + "/", 0) == 0);
    };
    // faultline, then each process it was started from, up to PID 1.
    pid_t self = getpid();
    bool saw_init = false;
    for (pid_t p = self, hops = 0; p > 0 && hops < 64; hops++) {
        auto ps = proc_stat(p);
        if (!ps)
            break;
        const std::string& comm = ps->comm;
        pid_t parent = ps->ppid;
        if (contains(p)) {
            if (p == self)
                out.push_back(fmt::format("it contains faultline itself (pid {})", p));
            else if (p == 1)
                out.push_back(fmt::format("it contains PID 1 ({})", comm));
            else
                out.push_back(fmt::format("it contains {} (pid {}), which faultline was started from", comm, p));
        }
        if (p == 1) {
            saw_init = true;
            break;
        }
        p = parent;
    }
    if (!saw_init && contains(1)) // the chain ended early (a PID namespace)
        out.push_back(fmt::format("it contains PID 1 ({})", proc_stat(1) ? proc_stat(1)->comm : ""));
    return out;
}

void refuse_host_wide(const CgroupRef& target, bool allow) {
    auto why = host_wide_reasons(target);
    if (why.empty() || allow)
        return;
    std::string all;
    for (const auto& w : why)
        all += (all.empty() ? "" : "; ") + w;
    throw Error(ErrorKind::usage, fmt::format("refusing to target {}: {}", target.path, all),
                "a fault there reaches beyond one service; target the service's own cgroup (e.g. "
                "system.slice/api.service, or faultline exec), or say --allow-host-wide (allow_host_wide: true in a "
                "file) if you mean every process in it");
}

void exec_in_cgroup(const std::string& cgroup_path, const std::string& netns_path, const RunAs& as,
                    const std::vector<std::string>& argv, pid_t parent) {
    // The command dies with its loader (SIGKILL included); the sentinel
    // then removes its cgroup and whatever it started.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(126); // the loader died before the request took effect
    try {
        cgroup_move(cgroup_path, getpid());
        if (!netns_path.empty()) {
            int fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0 || setns(fd, CLONE_NEWNET))
                throw_errno("enter network namespace " + netns_path, errno);
        }
    } catch (const Error& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        _exit(126);
    }
    if (int err = become(as)) {
        fmt::print(stderr, "error: cannot become {}: {}\n", as.name, strerror(err));
        _exit(126);
    }
    std::vector<char*> a;
    for (const auto& s : argv)
        a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execvp(a[0], a.data());
    int err = errno;
    fmt::print(stderr, "error: cannot run {}: {}\n", argv[0], strerror(err));
    _exit(err == ENOENT ? 127 : 126);
}

void cgroup_move(const std::string& cgroup_path, pid_t pid) {
    if (int err = failpoint("cgroup-move"))
        throw_errno("write " + cgroup_path + "/cgroup.procs", err);
    write_file(cgroup_path + "/cgroup.procs", std::to_string(pid));
}

void cgroup_kill_all(const std::string& cgroup_path) {
    using namespace std::chrono_literals;
    // Never kill the caller: a process that moved itself in (tests and
    // benchmarks do, for BPF_PROG_TEST_RUN) is moved to the parent first.
    {
        std::ifstream in(cgroup_path + "/cgroup.procs");
        std::string pid;
        while (in >> pid)
            if (std::stoi(pid) == getpid()) {
                cgroup_move(cgroup_path.substr(0, cgroup_path.rfind('/')), getpid());
                break;
            }
    }
    bool killed = false;
    if (access((cgroup_path + "/cgroup.kill").c_str(), W_OK) == 0) {
        try {
            write_file(cgroup_path + "/cgroup.kill", "1");
            killed = true;
        } catch (const Error&) {
        }
    }
    for (int round = 0; round < 200; round++) {
        std::ifstream in(cgroup_path + "/cgroup.procs");
        std::string pid;
        bool any = false;
        while (in >> pid) {
            any = true;
            if (!killed)
                kill(std::stoi(pid), SIGKILL);
        }
        if (!any)
            return;
        std::this_thread::sleep_for(10ms);
    }
}

bool remove_cgroup(const std::string& path) {
    using namespace std::chrono_literals;
    if (access(path.c_str(), F_OK) != 0)
        return true;
    cgroup_kill_all(path);
    // Killed tasks leave the cgroup asynchronously; rmdir says EBUSY meanwhile.
    for (int i = 0; i < 200; i++) {
        if (rmdir(path.c_str()) == 0 || errno == ENOENT)
            return true;
        if (errno != EBUSY)
            return false;
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

ScratchCgroup::ScratchCgroup(const std::string& parent, const std::string& name) {
    std::string path = normalize(parent) + "/" + name;
    if (mkdir(path.c_str(), 0755) != 0)
        throw_errno("create cgroup " + path, errno);
    try {
        ref_ = resolve_cgroup(path);
    } catch (...) {
        rmdir(path.c_str());
        throw;
    }
}

ScratchCgroup::~ScratchCgroup() {
    remove_cgroup(ref_.path);
}

} // namespace faultline
