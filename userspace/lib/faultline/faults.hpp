// SPDX-License-Identifier: Apache-2.0
// The fault kinds, one row each (faults.cpp). The grammar (spec.cpp),
// --help, `faultline probe`, the refusals, the session's attach logic and
// README's fault table (checked by a unit test) all read these rows: a new
// kind that reuses existing actions and filters is one new row.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "faultline/abi.h"

namespace faultline {

// What VALUE in KIND.ACTION=VALUE@P% is.
enum class FaultValue : uint8_t {
    none,          // no value: the row's err is used
    duration,      // a delay (delay= and jitter=)
    connect_errno, // an errno connect() can return (ECONNREFUSED ...)
    disk_errno,    // an errno storage can return (EIO, ENOSPC ...)
};

// Where a fault is evaluated (and which programs it needs).
enum class FaultHook : uint8_t {
    packet,  // cgroup_skb egress/ingress (by direction); a rewrite also tc ingress
    connect, // cgroup/connect4+6
    mem,     // security_vm_enough_memory_mm
    file,    // security_file_open / _file_permission (op=fsync: the syscalls)
    slab,    // should_failslab
    bio,     // should_fail_bio
};

// A kernel mechanism, probed once per process (probe.cpp).
enum class Mechanism : uint8_t {
    cgroup_skb,
    sch_fq,
    connect,
    tc_ingress,
    vm_enough,
    file_ops,
    fsync,
    failslab,
    fail_bio
};

// The filters (key=value after the percentage). A key may mean different
// things for different faults (dev=, per=): each meaning is its own bit.
enum FaultFilter : uint32_t {
    filter_proto = 1u << 0,
    filter_port = 1u << 1,
    filter_lport = 1u << 2,
    filter_cidr = 1u << 3,
    filter_direction = 1u << 4,
    filter_per_flow = 1u << 5, // per=packet|flow
    filter_limit = 1u << 6,
    filter_jitter = 1u << 7,
    filter_ifaces = 1u << 8, // dev=IFACE[+IFACE]
    filter_domain = 1u << 9,
    filter_qtype = 1u << 10,
    filter_server = 1u << 11,
    filter_per_name = 1u << 12, // per=query|name
    filter_min = 1u << 13,
    filter_cache = 1u << 14,
    filter_op = 1u << 15,
    filter_path = 1u << 16,
    filter_files = 1u << 17,
    filter_blockdev = 1u << 18, // dev=MAJ:MIN|/dev/NAME
};

struct FilterDef {
    std::string_view key; // as written: "dev"
    FaultFilter bit;
    std::string_view syntax; // for --help and hints: "dev=IFACE[+IFACE]"
    bool repeats = false;    // given more than once, each adds a value (domain=); any other is refused twice
};
std::span<const FilterDef> fault_filters();

using Nanos = std::chrono::nanoseconds;

struct FaultDef {
    std::string_view name;  // "net.delay"
    std::string_view usage; // "net.delay=DUR@P%"
    std::string_view help;  // --help: what it does, one or two short lines
    FaultValue value = FaultValue::none;
    int err = 0; // the errno / DNS header bits when value is none
    uint32_t filters = filter_limit;
    // Defaults, and what the filters may change them to.
    uint8_t proto_mask = FL_PROTO_ANY;
    uint8_t protos = FL_PROTO_ANY; // proto= may name these
    uint8_t dir_mask = 0;
    uint16_t rport = 0; // a default remote port (DNS: 53), 0 = any
    uint8_t ops = 0;    // default op= (file and block faults)
    uint8_t ops_allowed = 0;
    uint64_t min_bytes = 0; // default min= (mem.enomem)
    Nanos max_delay{0};     // duration faults: delay + jitter at most
    std::string_view max_delay_why;
    bool needs_blockdev = false; // dev= is required (disk.bio)
    // What to use for a value or an operation it does not take (hints).
    std::string_view instead;
    // The kernel side: where it is evaluated and what the programs do.
    FaultHook hook = FaultHook::packet;
    uint8_t action = FL_ACT_NONE; // enum fl_action
    uint8_t match = 0;            // enum fl_match_bits
    // The probe: the mechanism it needs, as `faultline probe` describes it,
    // and the upstream version that brought it.
    Mechanism mechanism = Mechanism::cgroup_skb;
    std::string_view how;
    std::string_view min_kernel;
    // The probe row a count-only (shadow) run needs: a shadow delay or
    // rewrite holds and rewrites nothing. Empty: the fault's own.
    std::string_view shadow_probe;

    // Holds packets: needs sch_fq where they leave.
    bool held() const { return (match & FL_M_HELD) != 0; }
    bool dns() const { return (match & FL_M_DNS) != 0; }
    std::string_view probe_name(bool shadow) const { return shadow && !shadow_probe.empty() ? shadow_probe : name; }
};

// Every fault kind, in the order of --help and `faultline probe`.
std::span<const FaultDef> fault_kinds();
// nullptr when there is no such fault (name as written, lowercase).
const FaultDef* find_fault(std::string_view name);

// "net.drop@P%, net.delay=DUR@P%, ..." for hints.
std::string known_faults_help();
// The --fault option's help: every fault, its filters, examples.
std::string faults_usage();
// "proto=..., port=..., limit=N": the filters one fault takes.
std::string filters_of(const FaultDef& def);

} // namespace faultline
