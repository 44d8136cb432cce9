// SPDX-License-Identifier: Apache-2.0
#include "faultline/probe.hpp"
#include "faultline/state.hpp"

#include <cerrno>
#include <fmt/format.h>
#include <map>
#include <optional>
#include <sys/utsname.h>
#include <unistd.h>

#include "faultline/bpf.hpp"
#include "faultline/cgroup.hpp"
#include "faultline/error.hpp"
#include "faultline/qdisc.hpp"

namespace faultline {
namespace {

// Load the programs and attach them to a throwaway cgroup. Empty on success.
std::string try_programs(const std::set<bpf::Program>& progs) {
    try {
        auto obj = bpf::Object::load(progs);
        OwnedCgroup cg(cgroup2_mount(), "probe");
        std::vector<bpf::Link> links;
        for (auto p : progs)
            links.push_back(obj->attach_cgroup(p, cg.path()));
        return {};
    } catch (const Error& e) {
        return e.what();
    }
}

// Each mechanism is tried at most once per process, when a fault needs it.
struct Mechanisms {
    std::optional<std::string> skb, conn, fq, tc, mem, file, sync, slab, bio;

    const std::string& cgroup_skb() {
        if (!skb)
            skb = try_programs({bpf::Program::skb_egress, bpf::Program::skb_ingress});
        return *skb;
    }
    const std::string& connect() {
        if (!conn)
            conn = try_programs({bpf::Program::connect4, bpf::Program::connect6});
        return *conn;
    }
    // Empty when sch_fq works (and cgroup_skb, which it builds on).
    const std::string& sch_fq() {
        if (!fq) {
            std::string why;
            fq = !cgroup_skb().empty() ? cgroup_skb() : fq_available(&why) ? std::string{} : why;
        }
        return *fq;
    }
    const std::string& tc_ingress() {
        if (!tc)
            tc = !cgroup_skb().empty() ? cgroup_skb() : bpf::tc_ingress_problem();
        return *tc;
    }
    // A tracing program attaches to its function for every task: attached
    // for a moment, with no experiment (it returns what it was given).
    static std::string try_trace(const std::set<bpf::Program>& progs) {
        try {
            auto obj = bpf::Object::load(progs);
            std::vector<bpf::Link> links;
            for (auto p : progs)
                links.push_back(obj->attach_trace(p));
            return {};
        } catch (const Error& e) {
            return e.what();
        }
    }
    const std::string& vm_enough() {
        if (!mem)
            mem = try_trace({bpf::Program::vm_enough});
        return *mem;
    }
    const std::string& file_ops() {
        if (!file)
            file = try_trace({bpf::Program::file_open, bpf::Program::file_perm});
        return *file;
    }
    const std::string& failslab() {
        if (!slab)
            slab = try_trace({bpf::Program::failslab});
        return *slab;
    }
    const std::string& fail_bio() {
        if (!bio)
            bio = try_trace({bpf::Program::fail_bio});
        return *bio;
    }
    const std::string& fsync() {
        if (!sync)
            sync = try_trace({bpf::Program::fsync, bpf::Program::fdatasync});
        return *sync;
    }
};

Mechanisms& mechanisms() {
    static Mechanisms m;
    return m;
}

const std::string& mechanism_problem(Mechanism m) {
    Mechanisms& ms = mechanisms();
    switch (m) {
    case Mechanism::cgroup_skb:
        return ms.cgroup_skb();
    case Mechanism::sch_fq:
        return ms.sch_fq();
    case Mechanism::connect:
        return ms.connect();
    case Mechanism::tc_ingress:
        return ms.tc_ingress();
    case Mechanism::vm_enough:
        return ms.vm_enough();
    case Mechanism::file_ops:
        return ms.file_ops();
    case Mechanism::fsync:
        return ms.fsync();
    case Mechanism::failslab:
        return ms.failslab();
    case Mechanism::fail_bio:
        return ms.fail_bio();
    }
    static const std::string unknown = "unknown mechanism";
    return unknown;
}

FaultSupport support_of(const std::string& f) {
    auto row = [&](std::string_view mechanism, std::string_view min_kernel, const std::string& why) {
        return FaultSupport{.fault = f,
                            .available = why.empty(),
                            .mechanism = std::string(mechanism),
                            .min_kernel = std::string(min_kernel),
                            .reason = why};
    };
    if (f == disk_fsync_row)
        return row("fmod_ret on __x64_sys_fsync and __x64_sys_fdatasync (no security hook runs for fsync; system "
                   "calls take fmod_ret only with CONFIG_FUNCTION_ERROR_INJECTION, which Debian's kernels lack)",
                   "5.12 + CONFIG_FUNCTION_ERROR_INJECTION, x86-64", mechanism_problem(Mechanism::fsync));
    if (const FaultDef* d = find_fault(f))
        return row(d->how, d->min_kernel, mechanism_problem(d->mechanism));
    throw Error(ErrorKind::usage, fmt::format("no fault '{}' to probe", f), "known faults: " + known_faults_help());
}

std::string kernel_release() {
    utsname u{};
    uname(&u);
    return u.release;
}

ProbeReport run_probe() {
    ProbeReport r;
    r.kernel = kernel_release();
    for (const auto& k : fault_kinds())
        r.faults.push_back(probe_fault(std::string(k.name)));
    r.faults.push_back(probe_fault(disk_fsync_row)); // the file faults' op=fsync needs more of the kernel
    return r;
}

} // namespace

const ProbeReport& probe_kernel() {
    static std::optional<ProbeReport> cached;
    if (!cached)
        cached = run_probe();
    return *cached;
}

const FaultSupport& probe_fault(const std::string& fault) {
    static std::map<std::string, FaultSupport> cache;
    auto it = cache.find(fault);
    if (it == cache.end())
        it = cache.emplace(fault, support_of(fault)).first;
    return it->second;
}

void require_support(const std::string& name) {
    const FaultSupport& f = probe_fault(name);
    if (f.available)
        return;
    throw Error(
        ErrorKind::unsupported,
        fmt::format("{} is not available on kernel {}: tried {}: {}", name, kernel_release(), f.mechanism, f.reason),
        fmt::format("{} needs Linux {} or newer; `faultline probe` lists what this kernel supports", name,
                    f.min_kernel));
}

} // namespace faultline
