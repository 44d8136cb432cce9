// SPDX-License-Identifier: Apache-2.0
#include "faultline/faults.hpp"

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>

namespace faultline {
namespace {

using namespace std::chrono_literals;

constexpr FilterDef filters[] = {
    {"proto", filter_proto, "proto=tcp|udp|icmp[+...]"},
    {"port", filter_port, "port=N[-M]"},
    {"lport", filter_lport, "lport=N[-M]"},
    {"cidr", filter_cidr, "cidr=ADDR/LEN"},
    {"direction", filter_direction, "direction=egress|ingress|both"},
    {"dir", filter_direction, ""},
    {"per", filter_per_flow, "per=packet|flow"},
    {"per", filter_per_name, "per=query|name"},
    {"domain", filter_domain, "domain=NAME|*.SUFFIX (up to 4)", true},
    {"qtype", filter_qtype, "qtype=A|AAAA|SRV|..."},
    {"server", filter_server, "server=CIDR"},
    {"jitter", filter_jitter, "jitter=DUR"},
    {"dev", filter_ifaces, "dev=IFACE[+IFACE]"},
    {"dev", filter_blockdev, "dev=MAJ:MIN|/dev/NAME"},
    {"min", filter_min, "min=SIZE"},
    {"cache", filter_cache, "cache=NAME"},
    {"op", filter_op, "op=OP[+OP]"},
    {"ops", filter_op, ""},
    {"path", filter_path, "path=/DIR-OR-FILE (up to 8)", true},
    {"files", filter_files, "files=regular|all"},
    {"limit", filter_limit, "limit=N"},
};

constexpr uint32_t net_filters =
    filter_proto | filter_port | filter_lport | filter_cidr | filter_direction | filter_per_flow | filter_limit;
constexpr uint32_t dns_filters =
    filter_domain | filter_qtype | filter_server | filter_port | filter_per_name | filter_limit;
constexpr uint32_t file_filters = filter_op | filter_path | filter_files | filter_limit;
constexpr uint8_t file_ops = FL_OP_OPEN | FL_OP_READ | FL_OP_WRITE;
constexpr uint8_t all_file_ops = file_ops | FL_OP_FSYNC;

constexpr std::string_view fq_why = "sch_fq drops packets scheduled beyond its 10 s horizon";
constexpr std::string_view disk_wait_why =
    "the delayed thread waits on its CPU in the kernel (BPF cannot sleep there), so each call is held at most 50ms; "
    "for a slower disk, throttle the cgroup's block I/O (cgroup v2 io.max)";
constexpr std::string_view fmod_ret = "5.17 + BTF + ftrace direct calls";
constexpr std::string_view rewrite_how = "cgroup_skb egress picks the query, a tc ingress program (tcx, or clsact "
                                         "before 6.6) rewrites its answer in place";
constexpr std::string_view file_how =
    "fmod_ret on security_file_open (open, exec) and security_file_permission (read, write, fallocate ...)";

// A DNS answer rewritten where it arrives: the resolver's real answer, with
// the header bits `set` (an rcode, or TC) and no records.
constexpr FaultDef dns_answer(std::string_view name, std::string_view usage, std::string_view help, int set,
                              uint8_t protos = FL_PROTO_UDP | FL_PROTO_TCP) {
    return {.name = name,
            .usage = usage,
            .help = help,
            .err = set,
            .filters = dns_filters | filter_ifaces,
            .proto_mask = protos,
            .dir_mask = FL_DIR_EGRESS,
            .rport = 53,
            .action = FL_ACT_REWRITE,
            .match = FL_M_DNS,
            .mechanism = Mechanism::tc_ingress,
            .how = rewrite_how,
            .min_kernel = "5.12 + clsact (6.6: tcx)",
            .shadow_probe = "dns.drop"};
}

// A file fault: fmod_ret on the file hooks, the file filters, open, read
// and write by default.
constexpr FaultDef file_fault(std::string_view name, std::string_view usage, std::string_view help, FaultValue value,
                              int err) {
    return {.name = name,
            .usage = usage,
            .help = help,
            .value = value,
            .err = err,
            .filters = file_filters,
            .ops = file_ops,
            .ops_allowed = all_file_ops,
            .hook = FaultHook::file,
            .action = FL_ACT_ERR,
            .match = FL_M_FILE,
            .mechanism = Mechanism::file_ops,
            .how = file_how,
            .min_kernel = fmod_ret};
}

constexpr FaultDef kinds[] = {
    {.name = "net.drop",
     .usage = "net.drop@P%",
     .help = "drop packets (egress by default)",
     .filters = net_filters,
     .dir_mask = FL_DIR_EGRESS,
     .action = FL_ACT_DROP,
     .how = "cgroup_skb egress/ingress on the target cgroup",
     .min_kernel = "5.12"},
    {.name = "net.delay",
     .usage = "net.delay=DUR@P%",
     .help = "hold packets DUR before they leave (egress; needs sch_fq)",
     .value = FaultValue::duration,
     .filters = net_filters | filter_jitter | filter_ifaces,
     .dir_mask = FL_DIR_EGRESS,
     .max_delay = 10s,
     .max_delay_why = fq_why,
     .action = FL_ACT_DELAY,
     .match = FL_M_HELD,
     .mechanism = Mechanism::sch_fq,
     .how = "cgroup_skb egress sets skb->tstamp (EDT), sch_fq holds the packet",
     .min_kernel = "5.12 + sch_fq",
     .shadow_probe = "net.drop"},
    {.name = "net.connect",
     .usage = "net.connect=ERRNO@P%",
     .help = "connect() fails with ERRNO (ECONNREFUSED, ETIMEDOUT, ENETUNREACH, EHOSTUNREACH, ...)",
     .value = FaultValue::connect_errno,
     .filters = filter_proto | filter_port | filter_cidr | filter_per_flow | filter_limit,
     .protos = FL_PROTO_TCP | FL_PROTO_UDP,
     .hook = FaultHook::connect,
     .action = FL_ACT_ERR,
     .mechanism = Mechanism::connect,
     .how = "cgroup/connect4+connect6 with bpf_set_retval",
     .min_kernel = "5.18"},
    {.name = "dns.drop",
     .usage = "dns.drop@P%",
     .help = "the answer to a DNS query (UDP or TCP) never arrives: the client times out",
     .filters = dns_filters,
     .proto_mask = FL_PROTO_UDP | FL_PROTO_TCP,
     .dir_mask = FL_DIR_INGRESS,
     .rport = 53,
     .action = FL_ACT_DROP,
     .match = FL_M_DNS,
     .how = "cgroup_skb ingress drops the answer to a matching query, UDP or TCP (the client times out and retries)",
     .min_kernel = "5.12"},
    {.name = "dns.delay",
     .usage = "dns.delay=DUR@P%",
     .help = "a matching DNS query leaves DUR late (needs sch_fq)",
     .value = FaultValue::duration,
     .filters = dns_filters | filter_jitter | filter_ifaces,
     .proto_mask = FL_PROTO_UDP | FL_PROTO_TCP,
     .dir_mask = FL_DIR_EGRESS,
     .rport = 53,
     .max_delay = 10s,
     .max_delay_why = fq_why,
     .action = FL_ACT_DELAY,
     .match = FL_M_DNS | FL_M_HELD,
     .mechanism = Mechanism::sch_fq,
     .how = "cgroup_skb egress holds a matching query (EDT), sch_fq sends it DUR later",
     .min_kernel = "5.12 + sch_fq",
     .shadow_probe = "dns.drop"},
    dns_answer("dns.nxdomain", "dns.nxdomain@P%", "the answer arrives as NXDOMAIN (same id and question)", 3),
    dns_answer("dns.servfail", "dns.servfail@P%", "the answer arrives as SERVFAIL", 2),
    dns_answer("dns.refused", "dns.refused@P%", "the answer arrives as REFUSED", 5),
    // Only over UDP: a TCP answer is never truncated.
    dns_answer("dns.truncate", "dns.truncate@P%",
               "the answer arrives truncated (TC, no records): the resolver asks again over TCP", FL_DNS_TC,
               FL_PROTO_UDP),
    [] {
        FaultDef d =
            file_fault("disk.eio", "disk.eio@P%", "the target's file operations fail with EIO", FaultValue::none, EIO);
        d.instead = "another errno: disk.errno=ERRNO@P%";
        return d;
    }(),
    file_fault("disk.errno", "disk.errno=ERRNO@P%", "... with ERRNO (EIO, ENOSPC, EDQUOT, EROFS, EACCES ...)",
               FaultValue::disk_errno, 0),
    [] {
        FaultDef d = file_fault("disk.full", "disk.full@P%", "writes fail with ENOSPC, as on a full file system",
                                FaultValue::none, ENOSPC);
        d.ops = d.ops_allowed = FL_OP_WRITE;
        d.instead = "other operations fail with ENOSPC under disk.errno=ENOSPC@P%";
        d.how = "fmod_ret on security_file_permission: writes fail with ENOSPC";
        return d;
    }(),
    [] {
        FaultDef d = file_fault("disk.delay", "disk.delay=DUR@P%",
                                "file operations start DUR late (<= 50ms; the thread waits on its CPU)",
                                FaultValue::duration, 0);
        d.filters |= filter_jitter;
        d.max_delay = Nanos(FL_DISK_MAX_DELAY_NS);
        d.max_delay_why = disk_wait_why;
        d.action = FL_ACT_DELAY;
        d.how = "fmod_ret on security_file_open and security_file_permission; the calling thread waits on its CPU "
                "(bpf_loop on bpf_ktime_get_ns, at most 50ms per call)";
        return d;
    }(),
    {.name = "mem.enomem",
     .usage = "mem.enomem@P%",
     .help = "the target's mmap/brk/mremap of min=SIZE or more (default 1MiB) fail with ENOMEM",
     .err = ENOMEM,
     .filters = filter_min | filter_limit,
     .min_bytes = 1ull << 20,
     .hook = FaultHook::mem,
     .action = FL_ACT_ERR,
     .match = FL_M_PAGES,
     .mechanism = Mechanism::vm_enough,
     .how = "fmod_ret on security_vm_enough_memory_mm (mmap, brk, mremap, fork accounting fail with ENOMEM)",
     .min_kernel = fmod_ret},
    {.name = "mem.slab",
     .usage = "mem.slab@P%",
     .help = "the target's kernel slab allocations fail (needs CONFIG_FUNCTION_ERROR_INJECTION)",
     .err = ENOMEM,
     .filters = filter_cache | filter_limit,
     .hook = FaultHook::slab,
     .action = FL_ACT_ERR,
     .mechanism = Mechanism::failslab,
     .how = "fmod_ret on should_failslab (kernel slab allocations that may sleep, in the target's tasks; the "
            "kernel's fault-injection point takes fmod_ret only with CONFIG_FUNCTION_ERROR_INJECTION, which "
            "Debian's kernels lack)",
     .min_kernel = "5.17 + CONFIG_FUNCTION_ERROR_INJECTION"},
    {.name = "disk.bio",
     .usage = "disk.bio@P%,dev=DEV",
     .help = "the target's block I/O to one device fails with EIO (io controller on; needs "
             "CONFIG_FUNCTION_ERROR_INJECTION)",
     .err = EIO,
     .filters = filter_blockdev | filter_op | filter_limit,
     .ops = FL_OP_READ | FL_OP_WRITE,
     .ops_allowed = FL_OP_READ | FL_OP_WRITE,
     .needs_blockdev = true,
     .instead = "a failed bio ends as EIO; other errnos, and file operations: disk.errno=ERRNO@P%",
     .hook = FaultHook::bio,
     .action = FL_ACT_ERR,
     .match = FL_M_BIO,
     .mechanism = Mechanism::fail_bio,
     .how = "fmod_ret on should_fail_bio (block I/O charged to the target's cgroup by the io controller fails "
            "with EIO; the block layer's fault-injection point takes fmod_ret only with "
            "CONFIG_FUNCTION_ERROR_INJECTION, which Debian's kernels lack)",
     .min_kernel = "5.17 + CONFIG_FUNCTION_ERROR_INJECTION + BLK_CGROUP"},
};

} // namespace

std::span<const FilterDef> fault_filters() {
    return filters;
}

std::span<const FaultDef> fault_kinds() {
    return kinds;
}

const FaultDef* find_fault(std::string_view name) {
    for (const auto& k : kinds)
        if (k.name == name)
            return &k;
    return nullptr;
}

std::string known_faults_help() {
    std::string out;
    for (const auto& k : kinds)
        out += fmt::format("{}{}", out.empty() ? "" : ", ", k.usage);
    return out;
}

std::string filters_of(const FaultDef& def) {
    std::string out;
    for (const auto& f : filters)
        if ((def.filters & f.bit) && !f.syntax.empty())
            out += fmt::format("{}{}", out.empty() ? "" : "  ", f.syntax);
    return out;
}

std::string faults_usage() {
    std::string out = "Fault to inject, repeatable: KIND.ACTION[=VALUE]@PERCENT%[,key=value...]\n";
    for (const auto& k : kinds) {
        out += fmt::format("  {:<22} {}\n", k.usage, k.help);
        std::string line;
        for (const auto& f : filters)
            if ((k.filters & f.bit) && !f.syntax.empty()) {
                if (!line.empty() && line.size() + f.syntax.size() > 64) {
                    out += fmt::format("  {:<22}   {}\n", "", line);
                    line.clear();
                }
                line += fmt::format("{}{}", line.empty() ? "" : "  ", f.syntax);
            }
        out += fmt::format("  {:<22}   {}\n", "", line);
    }
    out += "  op= takes open, read, write, fsync; DUR: 10ms, 1.5s; SIZE: 64K, 1MiB; ERRNO: by name\n"
           "  e.g. net.delay=10ms@1%,port=443   net.drop@0.5%,proto=udp,direction=ingress\n"
           "       dns.drop@5%,domain=*.example.com,qtype=AAAA   disk.full@1%,path=/var/lib/db";
    return out;
}

} // namespace faultline
