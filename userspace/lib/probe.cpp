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

const char* const all_faults[] = {"net.drop",   "net.delay",    "net.connect",  "dns.drop",
                                  "dns.delay",  "dns.nxdomain", "dns.servfail", "dns.refused",
                                  "disk.eio",   "disk.errno",   "disk.full",    "disk.*,op=fsync",
                                  "disk.delay", "mem.enomem",   "mem.slab",     "disk.bio"};

FaultSupport support_of(const std::string& f) {
    Mechanisms& m = mechanisms();
    auto row = [&](const char* mechanism, const char* min_kernel, const std::string& why) {
        return FaultSupport{
            .fault = f, .available = why.empty(), .mechanism = mechanism, .min_kernel = min_kernel, .reason = why};
    };
    if (f == "net.drop")
        return row("cgroup_skb egress/ingress on the target cgroup", "5.7", m.cgroup_skb());
    if (f == "net.delay")
        return row("cgroup_skb egress sets skb->tstamp (EDT), sch_fq holds the packet", "5.7 + sch_fq", m.sch_fq());
    if (f == "net.connect")
        return row("cgroup/connect4+connect6 with bpf_set_retval", "5.18", m.connect());
    if (f == "dns.drop")
        return row("cgroup_skb ingress drops the answer to a matching query, UDP or TCP (the client times out and "
                   "retries)",
                   "5.7", m.cgroup_skb());
    if (f == "dns.delay")
        return row("cgroup_skb egress holds a matching query (EDT), sch_fq sends it DUR later", "5.7 + sch_fq",
                   m.sch_fq());
    if (f == "dns.nxdomain" || f == "dns.servfail" || f == "dns.refused")
        return row("cgroup_skb egress picks the query, a tc ingress program (tcx, or clsact before 6.6) rewrites its "
                   "answer in place",
                   "5.7 + clsact (6.6: tcx)", m.tc_ingress());
    if (f == "mem.enomem")
        return row("fmod_ret on security_vm_enough_memory_mm (mmap, brk, mremap, fork accounting fail with ENOMEM)",
                   "5.17 + BTF + ftrace direct calls", m.vm_enough());
    if (f == "disk.eio" || f == "disk.errno")
        return row("fmod_ret on security_file_open (open, exec) and security_file_permission (read, write, "
                   "fallocate ...)",
                   "5.17 + BTF + ftrace direct calls", m.file_ops());
    if (f == "disk.full")
        return row("fmod_ret on security_file_permission: writes fail with ENOSPC", "5.17 + BTF + ftrace direct calls",
                   m.file_ops());
    if (f == disk_fsync_row)
        return row("fmod_ret on __x64_sys_fsync and __x64_sys_fdatasync (no security hook runs for fsync; system "
                   "calls take fmod_ret only with CONFIG_FUNCTION_ERROR_INJECTION, which Debian's kernels lack)",
                   "5.7 + CONFIG_FUNCTION_ERROR_INJECTION, x86-64", m.fsync());
    if (f == "disk.delay")
        return row("fmod_ret on security_file_open and security_file_permission; the calling thread waits on its CPU "
                   "(bpf_loop on bpf_ktime_get_ns, at most 50ms per call)",
                   "5.17 + BTF + ftrace direct calls", m.file_ops());
    if (f == "mem.slab")
        return row("fmod_ret on should_failslab (kernel slab allocations that may sleep, in the target's tasks; the "
                   "kernel's fault-injection point takes fmod_ret only with CONFIG_FUNCTION_ERROR_INJECTION, which "
                   "Debian's kernels lack)",
                   "5.17 + CONFIG_FUNCTION_ERROR_INJECTION", m.failslab());
    if (f == "disk.bio")
        return row("fmod_ret on should_fail_bio (block I/O charged to the target's cgroup by the io controller fails "
                   "with EIO; the block layer's fault-injection point takes fmod_ret only with "
                   "CONFIG_FUNCTION_ERROR_INJECTION, which Debian's kernels lack)",
                   "5.17 + CONFIG_FUNCTION_ERROR_INJECTION + BLK_CGROUP", m.fail_bio());
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
    for (const char* f : all_faults)
        r.faults.push_back(probe_fault(f));
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

void require_support(FaultKind kind) {
    // The three error answers share one mechanism and one probe result, as
    // do disk.eio and disk.errno (named by the first).
    require_support(FaultSpec{.kind = kind, .err = kind == FaultKind::disk_err ? EIO : dns_rcode_nxdomain}.name());
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
