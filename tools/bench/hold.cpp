// SPDX-License-Identifier: Apache-2.0
// fl_bench_hold: keeps one faultline instance attached to cgroup ATTACH with
// a drop experiment on cgroup TARGET until SIGTERM or --seconds.
//
// Why not `faultline inject`: the CLI attaches its programs to the target
// itself, so traffic of any other cgroup never runs them (cost exactly zero).
// To measure what an experiment on *another* cgroup costs a bystander, the
// program must run for the bystander and miss in the index: attach to a
// common parent, target a sibling.
//
// usage: fl_bench_hold --attach PATH --target PATH [--percent P] [--seconds N]
//        fl_bench_hold --attach PATH --empty [--seconds N]
//        fl_bench_hold --empty-fmod-ret FUNC [--seconds N]
// --empty attaches the empty program instead: the cost of the kernel's
// cgroup-BPF egress hook itself, the in-situ floor. --empty-fmod-ret attaches
// a program that returns 0 to kernel function FUNC (for every task): the
// floor of the disk and memory faults (tools/bench/disk.sh).
// Prints "ready" on stdout once attached, and the target's counters as JSON
// when it ends. `fl_bench_hold --cgroup2-mount` prints where the cgroup v2
// hierarchy is (run.sh asks the library rather than guessing a path).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fmt/format.h>

#include "common.hpp"
#include "empty_prog.hpp"
#include "faultline/bpf.hpp"
#include "faultline/cgroup.hpp"
#include "faultline/error.hpp"
#include "faultline/session.hpp"
#include "faultline/spec.hpp"

namespace faultline::bench {
namespace {

// Owns an fd.
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0)
            close(fd);
    }
};

void wait_until_stopped(int seconds) {
    const double end = now_s() + seconds;
    while (!stop_requested() && now_s() < end) {
        timespec ts{.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
        nanosleep(&ts, nullptr); // EINTR on SIGTERM: the loop sees the flag
    }
}

int hold_empty(const CgroupRef& attach, int seconds) {
    Fd prog{load_empty_program()};
    Fd cg{open(attach.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (cg.fd < 0)
        throw_errno("open " + attach.path, errno);
    Fd link{bpf_link_create(prog.fd, cg.fd, BPF_CGROUP_INET_EGRESS, nullptr)};
    if (link.fd < 0)
        throw_errno("attach the empty program to " + attach.path, errno);
    fmt::print("ready\n");
    std::fflush(stdout);
    wait_until_stopped(seconds);
    return 0;
}

int run(const Args& args) {
    if (args.flag("--cgroup2-mount")) {
        fmt::print("{}\n", cgroup2_mount());
        return 0;
    }
    const std::string attach_path = args.str("--attach", "");
    const std::string target_path = args.str("--target", "");
    const auto percent = args.num<double>("--percent", 0.0);
    const auto seconds = args.num<int>("--seconds", 60);
    const bool empty = args.flag("--empty");
    if (const std::string func = args.str("--empty-fmod-ret", ""); !func.empty()) {
        Fd link{attach_empty_fmod_ret(func.c_str())};
        fmt::print("ready\n");
        std::fflush(stdout);
        wait_until_stopped(seconds);
        return 0;
    }
    if (attach_path.empty() || (target_path.empty() && !empty) || seconds < 1 || seconds > 3600)
        throw std::invalid_argument("usage: fl_bench_hold --attach PATH (--target PATH [--percent P] | --empty) "
                                    "[--seconds 1..3600]");
    CgroupRef attach = resolve_cgroup(attach_path);
    if (empty)
        return hold_empty(attach, seconds);
    CgroupRef target = resolve_cgroup(target_path);

    auto obj = bpf::Object::load({bpf::Program::skb_egress});
    fl_experiment e{};
    e.cgroup_id = target.id;
    // The kernel deadline doubles as a safety net should this process hang.
    e.expires = obj->deadline_jiffies(monotonic_ns() + static_cast<uint64_t>(seconds + 5) * 1000000000ull);
    e.threshold = percent_to_threshold(percent);
    e.action = FL_ACT_DROP;
    e.proto_mask = FL_PROTO_ANY;
    e.dir_mask = FL_DIR_EGRESS;
    e.rport_hi = 0xffff;
    e.lport_hi = 0xffff;
    obj->set_experiment(0, e);
    fl_index_val v{};
    v.n = 1;
    obj->set_index(target.id, FL_HOOK_EGRESS, v);
    obj->set_levels(1u << target.level);
    bpf::Link link = obj->attach_cgroup(bpf::Program::skb_egress, attach.path);
    fmt::print("ready\n");
    std::fflush(stdout);

    wait_until_stopped(seconds);
    fl_counters c = obj->counters(0);
    fmt::print("{{\"evaluated\": {}, \"matched\": {}, \"injected\": {}}}\n", c.evaluated, c.matched, c.injected);
    return 0; // link, then object, released here
}

} // namespace
} // namespace faultline::bench

int main(int argc, char** argv) {
    using namespace faultline::bench;
    return tool_main("fl_bench_hold", [&] { return run(Args(argc, argv)); });
}
