// SPDX-License-Identifier: Apache-2.0
#include "faultline/spec.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>

#include "faultline/error.hpp"

namespace faultline {
namespace {

[[noreturn]] void bad(std::string msg, std::string hint = {}) {
    throw Error(ErrorKind::usage, std::move(msg), std::move(hint));
}

std::string lower(std::string_view s) {
    std::string r(s);
    std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return std::tolower(c); });
    return r;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    size_t start = 0;
    for (;;) {
        size_t pos = s.find(sep, start);
        out.push_back(s.substr(start, pos - start));
        if (pos == std::string_view::npos)
            return out;
        start = pos + 1;
    }
}

// Strict decimal parse of the whole string (no sign, no exponent, no spaces).
std::optional<double> parse_decimal(std::string_view s) {
    if (s.empty() || s.size() > 32)
        return std::nullopt;
    bool dot = false, digit = false;
    for (char c : s) {
        if (c == '.') {
            if (dot)
                return std::nullopt;
            dot = true;
        } else if (c >= '0' && c <= '9') {
            digit = true;
        } else {
            return std::nullopt;
        }
    }
    if (!digit)
        return std::nullopt;
    return std::strtod(std::string(s).c_str(), nullptr);
}

std::optional<uint64_t> parse_uint(std::string_view s) {
    uint64_t v = 0;
    if (s.empty())
        return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size())
        return std::nullopt;
    return v;
}

struct ErrnoName {
    const char* name;
    int value;
};
constexpr ErrnoName errnos[] = {
    {"ECONNREFUSED", ECONNREFUSED},
    {"ETIMEDOUT", ETIMEDOUT},
    {"ENETUNREACH", ENETUNREACH},
    {"EHOSTUNREACH", EHOSTUNREACH},
    {"ECONNRESET", ECONNRESET},
    {"EACCES", EACCES},
    {"EPERM", EPERM},
    {"EADDRNOTAVAIL", EADDRNOTAVAIL},
    {"ENETDOWN", ENETDOWN},
    {"EAGAIN", EAGAIN},
};

// What storage returns (open(2), read(2), write(2), fsync(2) ERRORS).
constexpr ErrnoName disk_errnos[] = {
    {"EIO", EIO},       {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS},   {"EACCES", EACCES},
    {"EPERM", EPERM},   {"ENOENT", ENOENT}, {"EBUSY", EBUSY},   {"EAGAIN", EAGAIN}, {"EINTR", EINTR},
    {"ENOMEM", ENOMEM}, {"EFBIG", EFBIG},   {"ENXIO", ENXIO},   {"ESTALE", ESTALE}, {"ETIMEDOUT", ETIMEDOUT},
};

const char* dur_hint = "durations are a number and a unit: ns, us, ms, s, m, h, d (e.g. 10ms, 1.5s)";

struct QtypeName {
    const char* name;
    uint16_t value;
};
constexpr QtypeName qtypes[] = {
    {"A", 1},    {"NS", 2},     {"CNAME", 5}, {"SOA", 6},     {"PTR", 12},  {"MX", 15},    {"TXT", 16},  {"AAAA", 28},
    {"SRV", 33}, {"NAPTR", 35}, {"DS", 43},   {"DNSKEY", 48}, {"SVCB", 64}, {"HTTPS", 65}, {"ANY", 255}, {"CAA", 257},
};

const char* domain_hint = "domain= takes a name (api.example.com) or everything strictly under one "
                          "(*.example.com); repeat it for several, e.g. domain=a.example,domain=*.b.example";

// Lowercase labels of a domain= value, validated (RFC 1035 sizes).
std::vector<std::string> domain_labels(std::string_view name) {
    std::string n = lower(name);
    if (!n.empty() && n.back() == '.')
        n.pop_back();
    if (n.empty())
        bad("domain= is empty (the root name cannot be filtered on)", domain_hint);
    std::vector<std::string> labels;
    size_t wire = 1; // the root byte
    for (auto l : split(n, '.')) {
        if (l.empty())
            bad(fmt::format("domain '{}' has an empty label", name), domain_hint);
        if (l.size() > 63)
            bad(fmt::format("domain '{}' has a label longer than 63 bytes", name), domain_hint);
        if (l.find('*') != std::string_view::npos)
            bad(fmt::format("domain '{}': '*' is only allowed as the whole first label (*.example.com)", name),
                domain_hint);
        wire += l.size() + 1;
        labels.emplace_back(l);
    }
    if (wire > FL_DNS_NAME_MAX)
        bad(fmt::format("domain '{}' is longer than 255 bytes in DNS wire format", name), domain_hint);
    return labels;
}

} // namespace

uint64_t dns_name_hash(std::string_view name) {
    std::string wire;
    for (const auto& l : domain_labels(name)) {
        wire.push_back(static_cast<char>(l.size()));
        wire += l;
    }
    uint64_t h = FL_DNS_HASH_INIT;
    for (auto it = wire.rbegin(); it != wire.rend(); ++it)
        h = fl_dns_hash_step(h, static_cast<uint8_t>(*it));
    return h;
}

uint16_t parse_qtype(std::string_view text) {
    std::string up(text);
    std::transform(up.begin(), up.end(), up.begin(), [](unsigned char c) { return std::toupper(c); });
    for (const auto& q : qtypes)
        if (up == q.name)
            return q.value;
    std::string_view num = up.rfind("TYPE", 0) == 0 ? std::string_view(up).substr(4) : std::string_view(up);
    if (auto v = parse_uint(num); v && *v >= 1 && *v <= 65535)
        return static_cast<uint16_t>(*v);
    std::string names;
    for (const auto& q : qtypes)
        names += fmt::format("{}{}", names.empty() ? "" : ", ", q.name);
    bad(fmt::format("unknown DNS type '{}'", text), "qtype= takes " + names + ", or a number (TYPE65 or 65)");
}

std::string FaultSpec::name() const {
    switch (kind) {
    case FaultKind::net_drop:
        return "net.drop";
    case FaultKind::net_delay:
        return "net.delay";
    case FaultKind::net_connect:
        return "net.connect";
    case FaultKind::dns_drop:
        return "dns.drop";
    case FaultKind::dns_delay:
        return "dns.delay";
    case FaultKind::dns_rcode:
        return err == dns_rcode_servfail ? "dns.servfail" : err == dns_rcode_refused ? "dns.refused" : "dns.nxdomain";
    case FaultKind::mem_enomem:
        return "mem.enomem";
    case FaultKind::disk_err:
        return err == EIO ? "disk.eio" : "disk.errno";
    case FaultKind::disk_full:
        return "disk.full";
    case FaultKind::disk_delay:
        return "disk.delay";
    case FaultKind::mem_slab:
        return "mem.slab";
    case FaultKind::disk_bio:
        return "disk.bio";
    }
    return "?";
}

std::string known_faults_help() {
    return "net.drop@P%, net.delay=DUR@P%, net.connect=ERRNO@P%, dns.drop@P%, dns.delay=DUR@P%, dns.nxdomain@P%, "
           "dns.servfail@P%, dns.refused@P%, mem.enomem@P%, mem.slab@P%, disk.eio@P%, disk.errno=ERRNO@P%, "
           "disk.full@P%, "
           "disk.delay=DUR@P%, disk.bio@P%";
}

Nanos parse_duration(std::string_view text, std::string_view what) {
    if (!text.empty() && text[0] == '-')
        bad(fmt::format("{} '{}' is negative", what, text), dur_hint);
    size_t i = 0;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.'))
        i++;
    auto num = parse_decimal(text.substr(0, i));
    std::string unit = lower(text.substr(i));
    if (!num || unit.empty())
        bad(fmt::format("{} '{}' is not a duration", what, text), dur_hint);
    double scale;
    if (unit == "ns")
        scale = 1;
    else if (unit == "us" || unit == "µs")
        scale = 1e3;
    else if (unit == "ms")
        scale = 1e6;
    else if (unit == "s")
        scale = 1e9;
    else if (unit == "m" || unit == "min")
        scale = 60e9;
    else if (unit == "h")
        scale = 3600e9;
    else if (unit == "d")
        scale = 86400e9;
    else
        bad(fmt::format("{} '{}' has an unknown unit '{}'", what, text, unit), dur_hint);
    double ns = *num * scale;
    if (ns > 1e18)
        bad(fmt::format("{} '{}' is absurdly long", what, text), dur_hint);
    return Nanos(static_cast<int64_t>(std::llround(ns)));
}

double parse_percent(std::string_view text) {
    const char* hint = "a percentage is 0% to 100%, with up to 6 decimals, e.g. @1% or @0.0001%";
    if (text.empty() || text.back() != '%')
        bad(fmt::format("percentage '{}' must end with '%'", text), hint);
    auto v = parse_decimal(text.substr(0, text.size() - 1));
    if (!v)
        bad(fmt::format("percentage '{}' is not a number", text), hint);
    if (*v > 100)
        bad(fmt::format("percentage '{}' is above 100%", text), hint);
    return *v;
}

uint64_t percent_to_threshold(double percent) {
    if (percent <= 0)
        return 0;
    if (percent >= 100)
        return FL_THRESHOLD_ALWAYS;
    double t = std::round(percent / 100.0 * static_cast<double>(FL_THRESHOLD_ALWAYS));
    auto th = static_cast<uint64_t>(t);
    // Never let a non-zero percentage round to "never", or a sub-100% to "always".
    return std::clamp<uint64_t>(th, 1, FL_THRESHOLD_ALWAYS - 1);
}

Cidr parse_cidr(std::string_view text) {
    const char* hint = "a CIDR is an address with an optional /prefix, e.g. 198.18.0.0/15 or 2001:db8::/32";
    Cidr c;
    c.text = std::string(text);
    std::string addr(text.substr(0, text.find('/')));
    bool has_prefix = text.find('/') != std::string_view::npos;
    std::array<uint8_t, 16> bytes{};
    if (inet_pton(AF_INET, addr.c_str(), bytes.data()) == 1)
        c.family = 4;
    else if (inet_pton(AF_INET6, addr.c_str(), bytes.data()) == 1)
        c.family = 6;
    else
        bad(fmt::format("'{}' is not an IPv4 or IPv6 address", addr), hint);
    unsigned bits = c.family == 4 ? 32 : 128;
    c.prefix = bits;
    if (has_prefix) {
        auto p = parse_uint(text.substr(text.find('/') + 1));
        if (!p || *p > bits)
            bad(fmt::format("CIDR '{}' has an invalid prefix length (0-{})", text, bits), hint);
        c.prefix = static_cast<unsigned>(*p);
    }
    std::array<uint8_t, 16> mask{};
    for (unsigned i = 0; i < c.prefix; i++)
        mask[i / 8] |= static_cast<uint8_t>(0x80 >> (i % 8));
    for (unsigned i = 0; i < 16; i++)
        bytes[i] &= mask[i];
    std::memcpy(c.addr.data(), bytes.data(), 16);
    std::memcpy(c.mask.data(), mask.data(), 16);
    if (c.family == 4) { // v4 lives in word 0 only
        c.addr[1] = c.addr[2] = c.addr[3] = 0;
        c.mask[1] = c.mask[2] = c.mask[3] = 0;
    }
    return c;
}

PortRange parse_port_range(std::string_view text, std::string_view key) {
    auto hint = fmt::format("{}= takes a port or an inclusive range, e.g. {}=443 or {}=8000-8100", key, key, key);
    auto parts = split(text, '-');
    if (parts.size() > 2)
        bad(fmt::format("{}='{}' is not a port range", key, text), hint);
    auto lo = parse_uint(parts[0]);
    auto hi = parts.size() == 2 ? parse_uint(parts[1]) : lo;
    if (!lo || !hi || *lo > 65535 || *hi > 65535)
        bad(fmt::format("{}='{}' is not a port (0-65535)", key, text), hint);
    if (*lo > *hi)
        bad(fmt::format("{}='{}' is an empty range", key, text), hint);
    return {static_cast<uint16_t>(*lo), static_cast<uint16_t>(*hi)};
}

int parse_errno(std::string_view text, ErrnoSet set) {
    std::string up(text);
    std::transform(up.begin(), up.end(), up.begin(), [](unsigned char c) { return std::toupper(c); });
    auto parse = [&](const auto& table, const char* who) {
        for (const auto& e : table)
            if (up == e.name)
                return e.value;
        std::string names;
        for (const auto& e : table)
            names += fmt::format("{}{}", names.empty() ? "" : ", ", e.name);
        bad(fmt::format("unknown errno '{}'", text), fmt::format("{} takes one of: {}", who, names));
    };
    return set == ErrnoSet::disk ? parse(disk_errnos, "disk.errno") : parse(errnos, "net.connect");
}

std::string errno_name(int err) {
    for (const auto& e : errnos)
        if (e.value == err)
            return e.name;
    for (const auto& e : disk_errnos)
        if (e.value == err)
            return e.name;
    return std::to_string(err);
}

uint64_t parse_size(std::string_view text, std::string_view what) {
    auto hint = "a size is a number of bytes with an optional unit: 4096, 64K, 64KiB, 1M, 1MiB, 2G";
    size_t i = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9')
        i++;
    auto n = parse_uint(text.substr(0, i));
    if (!n)
        bad(fmt::format("{} '{}' is not a size", what, text), hint);
    std::string unit = lower(text.substr(i));
    uint64_t mult = 0;
    if (unit.empty() || unit == "b")
        mult = 1;
    else if (unit == "k" || unit == "kib" || unit == "kb")
        mult = 1ull << 10;
    else if (unit == "m" || unit == "mib" || unit == "mb")
        mult = 1ull << 20;
    else if (unit == "g" || unit == "gib" || unit == "gb")
        mult = 1ull << 30;
    else
        bad(fmt::format("{} '{}' has an unknown unit '{}'", what, text, text.substr(i)), hint);
    if (*n > (1ull << 50) / mult)
        bad(fmt::format("{} '{}' is too large", what, text), hint);
    return *n * mult;
}

std::string format_duration(Nanos d) {
    auto ns = d.count();
    if (ns % 1000000000 == 0)
        return fmt::format("{}s", ns / 1000000000);
    if (ns % 1000000 == 0)
        return fmt::format("{}ms", ns / 1000000);
    if (ns % 1000 == 0)
        return fmt::format("{}us", ns / 1000);
    return fmt::format("{}ns", ns);
}

std::string format_percent(double percent) {
    std::string s = fmt::format("{:.6f}", percent);
    while (s.back() == '0')
        s.pop_back();
    if (s.back() == '.')
        s.pop_back();
    return s + "%";
}

// op=NAME[+NAME...] of a disk fault, among the operations it can fail.
static uint8_t parse_ops(std::string_view val, uint8_t allowed, const std::string& fault, const char* hint) {
    uint8_t ops = 0;
    for (auto o : split(val, '+')) {
        std::string lo = lower(o);
        uint8_t bit = lo == "open"    ? FL_OP_OPEN
                      : lo == "read"  ? FL_OP_READ
                      : lo == "write" ? FL_OP_WRITE
                      : lo == "fsync" ? FL_OP_FSYNC // and fdatasync
                                      : 0;
        if (!bit)
            bad(fmt::format("unknown operation '{}'", o),
                "op= takes open, read, write, fsync (fsync and fdatasync), or several joined by '+'");
        if (!(bit & allowed))
            bad(fmt::format("{} has no operation '{}'", fault, o), hint);
        ops = static_cast<uint8_t>(ops | bit);
    }
    return ops;
}

FaultSpec parse_fault(std::string_view text) {
    FaultSpec f;
    f.text = std::string(text);
    auto grammar = "a fault is KIND.ACTION[=VALUE]@PERCENT%[,key=value...], e.g. "
                   "net.drop@1%,proto=udp  net.delay=10ms@1%,port=443  "
                   "net.connect=ECONNREFUSED@10%,cidr=198.18.0.0/15";
    auto parts = split(text, ',');
    std::string_view head = parts[0];
    size_t at = head.rfind('@');
    if (at == std::string_view::npos)
        bad(fmt::format("fault '{}' has no @PERCENT%", text),
            "say how often to inject, e.g. net.drop@1% (use @100% for every time)");
    std::string_view action = head.substr(0, at);
    f.percent = parse_percent(head.substr(at + 1));
    f.threshold = percent_to_threshold(f.percent);

    std::string_view value;
    bool has_value = false;
    if (auto eq = action.find('='); eq != std::string_view::npos) {
        value = action.substr(eq + 1);
        action = action.substr(0, eq);
        has_value = true;
    }
    std::string act = lower(action);
    if (act == "net.drop") {
        f.kind = FaultKind::net_drop;
        if (has_value)
            bad(fmt::format("net.drop takes no value (got '={}')", value), grammar);
    } else if (act == "net.delay") {
        f.kind = FaultKind::net_delay;
        if (!has_value)
            bad("net.delay needs a duration, e.g. net.delay=10ms@1%", grammar);
        f.delay = parse_duration(value, "delay");
        if (f.delay.count() <= 0)
            bad("net.delay must be longer than 0", grammar);
    } else if (act == "dns.drop") {
        f.kind = FaultKind::dns_drop;
        if (has_value)
            bad(fmt::format("dns.drop takes no value (got '={}')", value), grammar);
        // The answer is dropped where it reaches the target's socket: UDP
        // or TCP from the resolver's port 53 (port= and server= change that).
        f.proto_mask = FL_PROTO_UDP | FL_PROTO_TCP;
        f.dir_mask = FL_DIR_INGRESS;
        f.rport = {53, 53};
    } else if (act == "dns.delay") {
        f.kind = FaultKind::dns_delay;
        if (!has_value)
            bad("dns.delay needs a duration, e.g. dns.delay=200ms@10%", grammar);
        f.delay = parse_duration(value, "delay");
        if (f.delay.count() <= 0)
            bad("dns.delay must be longer than 0", grammar);
        // The query is held where it leaves the target (EDT, sch_fq): the
        // answer comes DUR later.
        f.proto_mask = FL_PROTO_UDP | FL_PROTO_TCP;
        f.dir_mask = FL_DIR_EGRESS;
        f.rport = {53, 53};
    } else if (act == "mem.enomem") {
        f.kind = FaultKind::mem_enomem;
        if (has_value)
            bad(fmt::format("mem.enomem takes no value (got '={}')", value), grammar);
        f.err = ENOMEM;
        f.dir_mask = 0;
        f.min_bytes = mem_default_min;
    } else if (act == "disk.eio" || act == "disk.errno") {
        f.kind = FaultKind::disk_err;
        if (act == "disk.eio" && has_value)
            bad(fmt::format("disk.eio takes no value (got '={}')", value), "disk.errno=ERRNO@P% names another errno");
        if (act == "disk.errno" && !has_value)
            bad("disk.errno needs an errno, e.g. disk.errno=EACCES@10%", grammar);
        f.err = act == "disk.eio" ? EIO : parse_errno(value, ErrnoSet::disk);
        f.dir_mask = 0;
        f.ops = FL_OP_OPEN | FL_OP_READ | FL_OP_WRITE;
    } else if (act == "disk.full") {
        f.kind = FaultKind::disk_full;
        if (has_value)
            bad(fmt::format("disk.full takes no value (got '={}')", value), grammar);
        f.err = ENOSPC;
        f.dir_mask = 0;
        f.ops = FL_OP_WRITE;
    } else if (act == "disk.bio") {
        f.kind = FaultKind::disk_bio;
        if (has_value)
            bad(fmt::format("disk.bio takes no value (got '={}')", value),
                "a failed bio always ends as EIO; for another errno use disk.errno=ERRNO");
        f.err = EIO;
        f.dir_mask = 0;
        f.ops = FL_OP_READ | FL_OP_WRITE;
    } else if (act == "mem.slab") {
        f.kind = FaultKind::mem_slab;
        if (has_value)
            bad(fmt::format("mem.slab takes no value (got '={}')", value), grammar);
        f.err = ENOMEM;
        f.dir_mask = 0;
    } else if (act == "disk.delay") {
        f.kind = FaultKind::disk_delay;
        if (!has_value)
            bad("disk.delay needs a duration, e.g. disk.delay=10ms@5%", grammar);
        f.delay = parse_duration(value, "delay");
        if (f.delay.count() <= 0)
            bad("disk.delay must be longer than 0", grammar);
        f.dir_mask = 0;
        f.ops = FL_OP_OPEN | FL_OP_READ | FL_OP_WRITE;
    } else if (act == "net.connect") {
        f.kind = FaultKind::net_connect;
        if (!has_value)
            bad("net.connect needs an errno, e.g. net.connect=ECONNREFUSED@10%", grammar);
        f.err = parse_errno(value);
        f.dir_mask = 0;
    } else if (act == "dns.nxdomain" || act == "dns.servfail" || act == "dns.refused") {
        f.kind = FaultKind::dns_rcode;
        f.err = act == "dns.nxdomain"   ? dns_rcode_nxdomain
                : act == "dns.servfail" ? dns_rcode_servfail
                                        : dns_rcode_refused;
        if (has_value)
            bad(fmt::format("{} takes no value (got '={}')", act, value), grammar);
        // Decided on the query where it leaves the target; the answer is
        // rewritten where it arrives (tc ingress).
        f.proto_mask = FL_PROTO_UDP | FL_PROTO_TCP;
        f.dir_mask = FL_DIR_EGRESS;
        f.rport = {53, 53};
    } else {
        bad(fmt::format("unknown fault '{}'", action), "known faults: " + known_faults_help());
    }

    bool saw_dir = false;
    for (size_t i = 1; i < parts.size(); i++) {
        std::string_view kv = parts[i];
        auto eq = kv.find('=');
        if (eq == std::string_view::npos || eq == 0 || eq + 1 == kv.size())
            bad(fmt::format("filter '{}' in '{}' is not key=value", kv, text), grammar);
        std::string key = lower(kv.substr(0, eq));
        std::string_view val = kv.substr(eq + 1);
        if (f.kind == FaultKind::disk_bio) {
            if (key == "op" || key == "ops") {
                f.ops = parse_ops(val, FL_OP_READ | FL_OP_WRITE, "disk.bio",
                                  "disk.bio fails block reads and writes: op=read, write or read+write");
                continue;
            }
            if (key == "dev") {
                bool majmin =
                    val.find(':') != std::string_view::npos &&
                    std::all_of(val.begin(), val.end(), [](char c) { return (c >= '0' && c <= '9') || c == ':'; });
                if (!majmin && (val.empty() || val[0] != '/'))
                    bad(fmt::format("dev='{}' is neither MAJOR:MINOR nor a device path", val),
                        "disk.bio takes dev=MAJOR:MINOR (lsblk shows them) or dev=/dev/NAME");
                f.bio_dev = std::string(val);
                continue;
            }
            if (key != "limit")
                bad(fmt::format("filter '{}' does not apply to disk.bio", key),
                    "disk.bio takes dev=MAJ:MIN|/dev/NAME, op=read+write and limit=N (bios have no path: use disk.eio "
                    "for files)");
        }
        if (f.kind == FaultKind::mem_slab && key == "cache") {
            if (val.empty() || val.size() >= FL_NAME_MAX || !std::all_of(val.begin(), val.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == ':' ||
                           c == '.' || c == '(' || c == ')';
                }))
                bad(fmt::format("cache={} is not a kmem cache name", val),
                    "cache= names a cache as /proc/slabinfo lists it (e.g. names_cache, UDP, dentry)");
            f.cache = std::string(val);
            continue;
        }
        if (f.kind == FaultKind::mem_slab && key != "limit")
            bad(fmt::format("filter '{}' does not apply to mem.slab", key),
                "mem.slab takes cache=NAME (one kmem cache, as /proc/slabinfo lists it) and limit=N");
        if (f.kind == FaultKind::mem_enomem) {
            if (key == "min") {
                f.min_bytes = parse_size(val, "min");
                continue;
            }
            if (key != "limit")
                bad(fmt::format("filter '{}' does not apply to mem.enomem", key),
                    "mem.enomem takes min=SIZE (only requests of at least SIZE, default 1MiB) and limit=N");
        }
        if (f.is_disk()) {
            const char* disk_hint = "disk faults take op=open+read+write+fsync, path=/abs/dir-or-file (repeatable), "
                                    "files=regular|all and limit=N; disk.delay also jitter=DUR";
            if (key == "op" || key == "ops") {
                f.ops = parse_ops(val, FL_OP_OPEN | FL_OP_READ | FL_OP_WRITE | FL_OP_FSYNC, f.name(), disk_hint);
                if (f.kind == FaultKind::disk_full && f.ops != FL_OP_WRITE)
                    bad("disk.full fails writes only (op=write)",
                        "a full disk fails writes with ENOSPC; for other operations use disk.errno=ENOSPC");
                continue;
            }
            if (key == "path") {
                if (val.empty() || val[0] != '/')
                    bad(fmt::format("path='{}' is not absolute", val), disk_hint);
                if (f.paths.size() == disk_max_paths)
                    bad(fmt::format("more than {} path= filters in '{}'", disk_max_paths, text),
                        "name a common directory, or use one fault per group of paths");
                f.paths.emplace_back(val);
                continue;
            }
            if (key == "files") {
                std::string v = lower(val);
                if (v != "regular" && v != "all")
                    bad(fmt::format("files='{}' is neither regular nor all", val),
                        "files=regular (the default) fails regular files only, so that pipes, sockets and "
                        "terminals keep working; files=all fails them too");
                f.any_file = v == "all";
                continue;
            }
            if (f.kind == FaultKind::disk_delay && key == "jitter") {
                f.jitter = parse_duration(val, "jitter");
                continue;
            }
            if (key != "limit")
                bad(fmt::format("filter '{}' does not apply to {}", key, f.name()), disk_hint);
        }
        if (f.is_dns()) {
            if (key == "domain") {
                if (f.domains.size() == FL_DNS_MAX_NAMES)
                    bad(fmt::format("more than {} domain= filters in '{}'", FL_DNS_MAX_NAMES, text),
                        "use a suffix (*.example.com) to cover many names, or one fault per group of names");
                std::string d = lower(val);
                bool suffix = d.rfind("*.", 0) == 0;
                dns_name_hash(suffix ? std::string_view(d).substr(2) : std::string_view(d)); // validates
                if (!d.empty() && d.back() == '.')
                    d.pop_back();
                f.domains.push_back(d);
                continue;
            }
            if (key == "qtype") {
                f.qtype = parse_qtype(val);
                continue;
            }
            if (key == "server") {
                f.cidr = parse_cidr(val);
                continue;
            }
            if (key == "per" && lower(val) == "name") {
                f.sample = FL_SAMPLE_NAME;
                continue;
            }
            if (key == "per" && (lower(val) == "query" || lower(val) == "packet")) {
                f.sample = FL_SAMPLE_EVENT;
                continue;
            }
            if (key == "per")
                bad(fmt::format("unknown sampling unit '{}' for {}", val, f.name()),
                    "dns faults draw per=query (a fresh draw for every query) or per=name (one draw per "
                    "queried name, sticky)");
            if (key != "port" && key != "limit" && !(f.is_delay() && key == "jitter") &&
                !((f.is_delay() || f.kind == FaultKind::dns_rcode) && key == "dev"))
                bad(fmt::format("filter '{}' does not apply to {}", key, f.name()),
                    "dns faults take domain=, qtype=, server= (resolver CIDR), port= (resolver port, default 53), "
                    "per=query|name and limit=; dns.delay also jitter= and dev=, the error answers dev=");
        }
        if (key == "proto") {
            f.proto_mask = 0;
            for (auto p : split(val, '+')) {
                std::string lp = lower(p);
                if (lp == "tcp")
                    f.proto_mask |= FL_PROTO_TCP;
                else if (lp == "udp")
                    f.proto_mask |= FL_PROTO_UDP;
                else if (lp == "icmp" && f.kind != FaultKind::net_connect)
                    f.proto_mask |= FL_PROTO_ICMP;
                else
                    bad(fmt::format("unknown protocol '{}'", p),
                        f.kind == FaultKind::net_connect ? "net.connect takes proto=tcp, udp or tcp+udp"
                                                         : "proto= takes tcp, udp, icmp, or several joined by '+'");
            }
        } else if (key == "port") {
            f.rport = parse_port_range(val, "port");
        } else if (key == "lport") {
            f.lport = parse_port_range(val, "lport");
        } else if (key == "cidr") {
            f.cidr = parse_cidr(val);
        } else if (key == "direction" || key == "dir") {
            if (f.kind == FaultKind::net_connect)
                bad("net.connect has no direction (it fails outgoing connect() calls)", grammar);
            std::string d = lower(val);
            if (d == "egress" || d == "out")
                f.dir_mask = FL_DIR_EGRESS;
            else if (d == "ingress" || d == "in")
                f.dir_mask = FL_DIR_INGRESS;
            else if (d == "both")
                f.dir_mask = FL_DIR_EGRESS | FL_DIR_INGRESS;
            else
                bad(fmt::format("unknown direction '{}'", val), "direction= takes egress, ingress or both");
            saw_dir = true;
        } else if (key == "per") {
            std::string p = lower(val);
            if (p == "packet" || p == "event" || p == "call")
                f.sample = FL_SAMPLE_EVENT;
            else if (p == "flow" || p == "connection")
                f.sample = FL_SAMPLE_FLOW;
            else
                bad(fmt::format("unknown sampling unit '{}'", val),
                    "per= takes packet (a fresh draw per packet) or flow (one draw per connection, sticky)");
        } else if (key == "limit") {
            auto n = parse_uint(val);
            if (!n || *n == 0)
                bad(fmt::format("limit='{}' is not a positive count", val),
                    "limit=N stops injecting after N injections");
            f.limit = *n;
        } else if (key == "jitter") {
            if (!f.is_delay())
                bad("jitter= only applies to net.delay and dns.delay", grammar);
            f.jitter = parse_duration(val, "jitter");
        } else if (key == "dev") {
            if (!f.is_delay() && f.kind != FaultKind::dns_rcode)
                bad("dev= only applies to net.delay and dns.delay (where sch_fq must be installed) and to dns "
                    "error answers (where answers arrive)",
                    grammar);
            for (auto d : split(val, '+')) {
                if (d.empty() || d.size() >= 16)
                    bad(fmt::format("dev='{}' is not an interface name", val), "dev= takes IFACE or IFACE+IFACE");
                f.devices.emplace_back(d);
            }
        } else {
            bad(fmt::format("unknown filter '{}' in '{}'", key, text),
                "filters: proto=, port=, lport=, cidr=, direction=, per=, limit=, jitter= and dev= (net.delay)");
        }
    }

    if (f.kind == FaultKind::disk_bio && f.bio_dev.empty())
        bad("disk.bio needs dev=: the block device whose I/O fails",
            "add dev=MAJOR:MINOR (lsblk shows them) or dev=/dev/NAME; without one a target's I/O to every device "
            "would fail, the root file system's included");
    if (f.kind == FaultKind::disk_delay) {
        if (f.jitter > f.delay)
            bad(fmt::format("jitter {} is larger than the delay {}", format_duration(f.jitter),
                            format_duration(f.delay)),
                "the delay is uniform in [delay-jitter, delay+jitter], so jitter must not exceed delay");
        if (f.delay + f.jitter > disk_max_delay)
            bad(fmt::format("disk.delay {} is longer than {}", format_duration(f.delay + f.jitter),
                            format_duration(disk_max_delay)),
                "the delayed thread waits on its CPU in the kernel (BPF cannot sleep there), so each call is held "
                "at most 50ms; for a slower disk, throttle the cgroup's block I/O (cgroup v2 io.max)");
    }
    if (f.is_delay()) {
        if (f.jitter > f.delay)
            bad(fmt::format("jitter {} is larger than the delay {}", format_duration(f.jitter),
                            format_duration(f.delay)),
                "the delay is uniform in [delay-jitter, delay+jitter], so jitter must not exceed delay");
        if (f.delay + f.jitter > max_delay)
            bad(fmt::format("delay {} is longer than {}", format_duration(f.delay + f.jitter),
                            format_duration(max_delay)),
                "sch_fq drops packets scheduled beyond its 10 s horizon");
        if (saw_dir && (f.dir_mask & FL_DIR_INGRESS))
            bad("net.delay on ingress is not supported",
                "delay the sender instead: run net.delay on the peer's cgroup, or on the "
                "client's egress (direction=egress, the default)");
    }
    return f;
}

} // namespace faultline
