// SPDX-License-Identifier: Apache-2.0
// The fault grammar: KIND.ACTION[=VALUE]@PERCENT%[,key=value...]
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "faultline/abi.h"
#include "faultline/faults.hpp"

namespace faultline {

struct PortRange {
    uint16_t lo = 0;
    uint16_t hi = 0xffff;
    bool any() const { return lo == 0 && hi == 0xffff; }
};

struct Cidr {
    int family = 0;                 // 4 or 6
    std::array<uint32_t, 4> addr{}; // network order, masked
    std::array<uint32_t, 4> mask{}; // network order
    unsigned prefix = 0;
    std::string text;
};

struct FaultSpec {
    std::string text;              // as the user wrote it
    const FaultDef* def = nullptr; // its row in the registry (faults.hpp); set by parse_fault
    double percent = 0;            // 0..100, as given
    uint64_t threshold = 0;        // draw < threshold, 0..FL_THRESHOLD_ALWAYS
    uint8_t sample = FL_SAMPLE_EVENT;
    uint8_t proto_mask = FL_PROTO_ANY;
    uint8_t dir_mask = FL_DIR_EGRESS;
    PortRange rport, lport;
    std::optional<Cidr> cidr;
    Nanos delay{0}, jitter{0};
    int err = 0;                      // net.connect, disk.*: positive errno; dns_rcode: the rcode
    uint64_t limit = 0;               // max injections, 0 = unlimited
    std::vector<std::string> devices; // net.delay: where fq must be; dns_rcode: where answers arrive
    // dns.*: domain= filters (lowercase, no trailing dot; "*.x" = strictly
    // under x) and the question type, 0 = any
    std::vector<std::string> domains;
    uint16_t qtype = 0;
    // mem.enomem: only requests of at least this many bytes (min=)
    uint64_t min_bytes = 0;
    std::string cache; // mem.slab: the kmem cache's name (cache=), "" = every cache
    // disk.*: operations (enum fl_op_bits), every file type or regular
    // files only (files=), and path= filters as written (absolute)
    uint8_t ops = 0;
    bool any_file = false;
    std::vector<std::string> paths;
    // disk.bio: the block device, as written (MAJ:MIN or /dev/NAME); required
    std::string bio_dev;

    bool is_dns() const { return def->dns(); }
    bool is_disk() const { return def->hook == FaultHook::file; }
    // holds packets: needs sch_fq where they leave
    bool is_delay() const { return def->held(); }

    // "net.drop", "dns.nxdomain" etc.
    std::string name() const { return std::string(def->name); }
};

// path= filters of one disk fault.
inline constexpr size_t disk_max_paths = 8;

// The longest experiment (--for, duration:).
inline constexpr Nanos max_duration = std::chrono::hours(24 * 7);

// Parsers. All throw faultline::Error(usage) with a hint on bad input.
FaultSpec parse_fault(std::string_view text);
Nanos parse_duration(std::string_view text, std::string_view what);
double parse_percent(std::string_view text);
// A seed: decimal (leading zeros too: 010 is ten, not octal eight) or 0x
// hex, 0 to 2^64-1.
uint64_t parse_seed(std::string_view text);
uint64_t percent_to_threshold(double percent);
Cidr parse_cidr(std::string_view text);
PortRange parse_port_range(std::string_view text, std::string_view key);
// The errnos a fault may inject: net.connect's (ECONNREFUSED ...) or the
// disk faults' (EIO, ENOSPC ...).
enum class ErrnoSet { connect, disk };
int parse_errno(std::string_view text, ErrnoSet set = ErrnoSet::connect);
std::string errno_name(int err);
// A size in bytes: 4096, 64K, 64KiB, 1M, 1MiB, 2G (units of 1024).
uint64_t parse_size(std::string_view text, std::string_view what);

std::string format_duration(Nanos d);
std::string format_percent(double percent);

// fl_dns_hash (abi.h) of a domain name as written (case-insensitive, an
// optional trailing dot), over its DNS wire format: what the BPF side
// computes for queried names and their suffixes.
uint64_t dns_name_hash(std::string_view name);
// DNS question type by name (A, AAAA, SRV ...) or number (TYPE28 or 28).
uint16_t parse_qtype(std::string_view text);

} // namespace faultline
