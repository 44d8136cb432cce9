// SPDX-License-Identifier: Apache-2.0
#include "faultline/probe.hpp"

#include <fmt/format.h>
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
        ScratchCgroup cg(cgroup2_mount(), fmt::format("faultline-probe-{}", getpid()));
        std::vector<bpf::Link> links;
        for (auto p : progs)
            links.push_back(obj->attach_cgroup(p, cg.path()));
        return {};
    } catch (const Error& e) {
        return e.what();
    }
}

ProbeReport run_probe() {
    ProbeReport r;
    utsname u{};
    uname(&u);
    r.kernel = u.release;

    std::string skb = try_programs({bpf::Program::skb_egress, bpf::Program::skb_ingress});
    std::string conn = try_programs({bpf::Program::connect4, bpf::Program::connect6});

    r.faults.push_back({.fault = "net.drop",
                        .available = skb.empty(),
                        .mechanism = "cgroup_skb egress/ingress on the target cgroup",
                        .min_kernel = "5.7",
                        .reason = skb});
    std::string fq_why;
    bool fq = skb.empty() && fq_available(&fq_why);
    r.faults.push_back({.fault = "net.delay",
                        .available = fq,
                        .mechanism = "cgroup_skb egress sets skb->tstamp (EDT), sch_fq holds the packet",
                        .min_kernel = "5.7 + sch_fq",
                        .reason = skb.empty() ? fq_why : skb});
    r.faults.push_back({.fault = "net.connect",
                        .available = conn.empty(),
                        .mechanism = "cgroup/connect4+connect6 with bpf_set_retval",
                        .min_kernel = "5.18",
                        .reason = conn});
    r.faults.push_back({.fault = "dns.drop",
                        .available = skb.empty(),
                        .mechanism = "cgroup_skb ingress drops the answer to a matching query, UDP or TCP (the client "
                                     "times out and retries)",
                        .min_kernel = "5.7",
                        .reason = skb});
    r.faults.push_back({.fault = "dns.delay",
                        .available = fq,
                        .mechanism = "cgroup_skb egress holds a matching query (EDT), sch_fq sends it DUR later",
                        .min_kernel = "5.7 + sch_fq",
                        .reason = skb.empty() ? fq_why : skb});
    std::string tc = skb.empty() ? bpf::tc_ingress_problem() : skb;
    for (const char* f : {"dns.nxdomain", "dns.servfail", "dns.refused"})
        r.faults.push_back({.fault = f,
                            .available = tc.empty(),
                            .mechanism = "cgroup_skb egress picks the query, a tc ingress program (tcx, or "
                                         "clsact before 6.6) rewrites its answer in place",
                            .min_kernel = "5.7 + clsact (6.6: tcx)",
                            .reason = tc});
    for (const char* f : {"disk.*", "mem.*"})
        r.faults.push_back({.fault = f,
                            .available = false,
                            .mechanism = "",
                            .min_kernel = "",
                            .reason = "not implemented in this version of faultline"});
    return r;
}

} // namespace

const ProbeReport& probe_kernel() {
    static std::optional<ProbeReport> cached;
    if (!cached)
        cached = run_probe();
    return *cached;
}

void require_support(FaultKind kind) {
    // The three error answers share one mechanism and one probe result.
    std::string name = FaultSpec{.kind = kind, .err = dns_rcode_nxdomain}.name();
    for (const auto& f : probe_kernel().faults) {
        if (f.fault != name || f.available)
            continue;
        throw Error(ErrorKind::unsupported,
                    fmt::format("{} is not available on kernel {}: tried {}: {}", name, probe_kernel().kernel,
                                f.mechanism, f.reason),
                    fmt::format("{} needs Linux {} or newer; `faultline probe` lists what this kernel supports", name,
                                f.min_kernel));
    }
}

} // namespace faultline
