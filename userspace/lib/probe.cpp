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

// Why a mechanism cannot be used here (empty: it can), and whether the
// kernel has it but refuses this process (a permission error).
struct Problem {
    std::string why;
    bool forbidden = false;
};

Problem problem_of(const Error& e) {
    return {e.what(), e.kind() == ErrorKind::permission};
}

// Load the programs and attach each with `attach`: empty on success, else
// the kernel's answer. A failure that is not the kernel's answer about the
// feature (out of memory, a broken build: ErrorKind::system, from the load
// or from making the probe's cgroup) is thrown: it must not be reported,
// and cached, as "not available on this kernel".
template <typename Attach> Problem try_attach(const std::set<bpf::Program>& progs, Attach attach) {
    std::unique_ptr<bpf::Object> obj;
    try {
        obj = bpf::Object::load(progs);
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::system)
            throw;
        return problem_of(e);
    }
    try {
        std::vector<bpf::Link> links;
        attach(*obj, links);
        return {};
    } catch (const Error& e) {
        return problem_of(e);
    }
}

// cgroup programs: attached to a throwaway cgroup (made outside the try:
// its failure is this machine's, not the kernel's).
Problem try_programs(const std::set<bpf::Program>& progs) {
    OwnedCgroup cg(cgroup2_mount(), "probe");
    return try_attach(progs, [&](bpf::Object& o, std::vector<bpf::Link>& links) {
        for (auto p : progs)
            links.push_back(o.attach_cgroup(p, cg.path()));
    });
}

// A tracing program attaches to its function for every task: attached for
// a moment, with no experiment (it returns what it was given).
Problem try_trace(const std::set<bpf::Program>& progs) {
    return try_attach(progs, [&](bpf::Object& o, std::vector<bpf::Link>& links) {
        for (auto p : progs)
            links.push_back(o.attach_trace(p));
    });
}

const Problem& mechanism_problem(Mechanism m);

Problem try_mechanism(Mechanism m) {
    using P = bpf::Program;
    switch (m) {
    case Mechanism::cgroup_skb:
        return try_programs({P::skb_egress, P::skb_ingress});
    case Mechanism::connect:
        return try_programs({P::connect4, P::connect6});
    case Mechanism::sch_fq: { // builds on cgroup_skb
        const Problem& skb = mechanism_problem(Mechanism::cgroup_skb);
        if (!skb.why.empty())
            return skb;
        std::string why;
        return fq_available(&why) ? Problem{} : Problem{why};
    }
    case Mechanism::tc_ingress: { // likewise
        const Problem& skb = mechanism_problem(Mechanism::cgroup_skb);
        return !skb.why.empty() ? skb : Problem{bpf::tc_ingress_problem()};
    }
    case Mechanism::vm_enough:
        return try_trace({P::vm_enough});
    case Mechanism::file_ops:
        return try_trace({P::file_open, P::file_perm});
    case Mechanism::fsync:
        return try_trace({P::fsync, P::fdatasync});
    case Mechanism::failslab:
        return try_trace({P::failslab});
    case Mechanism::fail_bio:
        return try_trace({P::fail_bio});
    }
    return {"unknown mechanism"};
}

// Each mechanism is tried at most once per process, when a fault needs it.
const Problem& mechanism_problem(Mechanism m) {
    static std::map<Mechanism, Problem> tried;
    auto it = tried.find(m);
    if (it == tried.end())
        it = tried.emplace(m, try_mechanism(m)).first;
    return it->second;
}

FaultSupport support_of(const std::string& f) {
    auto row = [&](std::string_view mechanism, std::string_view min_kernel, const Problem& why) {
        return FaultSupport{.fault = f,
                            .available = why.why.empty(),
                            .mechanism = std::string(mechanism),
                            .min_kernel = std::string(min_kernel),
                            .reason = why.why,
                            .forbidden = why.forbidden};
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

Error unsupported_error(const std::string& row, const FaultSupport& f, const std::string& kernel) {
    std::string what =
        fmt::format("{} is not available on kernel {}: tried {}: {}", row, kernel, f.mechanism, f.reason);
    // The kernel refused this program type to a root process (EPERM): a
    // kernel built or locked down that way, an LSM or a sandbox. Another
    // kernel release alone may not help: not said.
    if (f.forbidden)
        return Error(ErrorKind::unsupported, what,
                     "the kernel refuses this program type to root here (EPERM): lockdown "
                     "(/sys/kernel/security/lockdown), a security module, a sandbox (seccomp, a container without "
                     "CAP_BPF) or the kernel's build; `faultline probe` lists what it allows");
    return Error(ErrorKind::unsupported, what,
                 fmt::format("{} needs Linux {} or newer; `faultline probe` lists what this kernel supports", row,
                             f.min_kernel));
}

void require_support(const std::string& name) {
    const FaultSupport& f = probe_fault(name);
    if (!f.available)
        throw unsupported_error(name, f, kernel_release());
}

} // namespace faultline
