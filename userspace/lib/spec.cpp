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
    auto number = text.substr(0, text.size() - 1);
    auto v = parse_decimal(number);
    if (!v)
        bad(fmt::format("percentage '{}' is not a number", text), hint);
    // Finer than the draw's resolution would be rounded without a word
    // (100.0000001% to 100%).
    if (auto dot = number.find('.'); dot != std::string_view::npos && number.size() - dot - 1 > 6)
        bad(fmt::format("percentage '{}' has more than 6 decimals", text), hint);
    if (*v > 100)
        bad(fmt::format("percentage '{}' is above 100%", text), hint);
    return *v;
}

uint64_t parse_seed(std::string_view text) {
    const char* hint = "a seed is a decimal number (0 to 18446744073709551615) or 0x and hex digits";
    bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
    std::string_view digits = hex ? text.substr(2) : text;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, hex ? 16 : 10);
    if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size())
        bad(fmt::format("seed '{}' is not {}", text,
                        ec == std::errc::result_out_of_range ? "below 2^64" : "an unsigned number"),
            hint);
    return v;
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

// op=NAME[+NAME...] of a file or block fault, among the operations it can fail.
static uint8_t parse_ops(std::string_view val, const FaultDef& def) {
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
        if (!(bit & def.ops_allowed)) {
            std::string can;
            for (auto [b, n] :
                 {std::pair{FL_OP_OPEN, "open"}, {FL_OP_READ, "read"}, {FL_OP_WRITE, "write"}, {FL_OP_FSYNC, "fsync"}})
                if (def.ops_allowed & b)
                    can += fmt::format("{}{}", can.empty() ? "" : ", ", n);
            bad(fmt::format("{} has no operation '{}'", def.name, o),
                fmt::format("{} fails {}{}{}", def.name, can, def.instead.empty() ? "" : "; ", def.instead));
        }
        ops = static_cast<uint8_t>(ops | bit);
    }
    return ops;
}

namespace {

// One filter of a fault, key=val, known to apply to it (bit).
void parse_filter(FaultSpec& f, FaultFilter bit, std::string_view key, std::string_view val, std::string_view text) {
    const FaultDef& def = *f.def;
    switch (bit) {
    case filter_proto:
        f.proto_mask = 0;
        for (auto p : split(val, '+')) {
            std::string lp = lower(p);
            uint8_t b = lp == "tcp" ? FL_PROTO_TCP : lp == "udp" ? FL_PROTO_UDP : lp == "icmp" ? FL_PROTO_ICMP : 0;
            if (!(b & def.protos))
                bad(fmt::format("unknown protocol '{}'", p),
                    def.protos == FL_PROTO_ANY ? "proto= takes tcp, udp, icmp, or several joined by '+'"
                                               : fmt::format("{} takes proto=tcp, udp or tcp+udp", def.name));
            f.proto_mask |= b;
        }
        return;
    case filter_port:
        f.rport = parse_port_range(val, "port");
        return;
    case filter_lport:
        f.lport = parse_port_range(val, "lport");
        return;
    case filter_cidr:
    case filter_server:
        f.cidr = parse_cidr(val);
        return;
    case filter_direction: {
        std::string d = lower(val);
        if (d == "egress" || d == "out")
            f.dir_mask = FL_DIR_EGRESS;
        else if (d == "ingress" || d == "in")
            f.dir_mask = FL_DIR_INGRESS;
        else if (d == "both")
            f.dir_mask = FL_DIR_EGRESS | FL_DIR_INGRESS;
        else
            bad(fmt::format("unknown direction '{}'", val), "direction= takes egress, ingress or both");
        if (def.held() && (f.dir_mask & FL_DIR_INGRESS))
            bad(fmt::format("{} on ingress is not supported", def.name),
                "delay the sender instead: run the delay on the peer's cgroup, or on the "
                "client's egress (direction=egress, the default)");
        return;
    }
    case filter_per_flow: {
        std::string p = lower(val);
        if (p == "packet" || p == "event" || p == "call")
            f.sample = FL_SAMPLE_EVENT;
        else if (p == "flow" || p == "connection")
            f.sample = FL_SAMPLE_FLOW;
        else
            bad(fmt::format("unknown sampling unit '{}'", val),
                "per= takes packet (a fresh draw per packet) or flow (one draw per connection, sticky)");
        return;
    }
    case filter_per_name: {
        std::string p = lower(val);
        if (p == "name")
            f.sample = FL_SAMPLE_NAME;
        else if (p == "query" || p == "packet")
            f.sample = FL_SAMPLE_EVENT;
        else
            bad(fmt::format("unknown sampling unit '{}' for {}", val, def.name),
                "dns faults draw per=query (a fresh draw for every query) or per=name (one draw per "
                "queried name, sticky)");
        return;
    }
    case filter_limit: {
        auto n = parse_uint(val);
        if (!n || *n == 0)
            bad(fmt::format("limit='{}' is not a positive count", val), "limit=N stops injecting after N injections");
        f.limit = *n;
        return;
    }
    case filter_jitter:
        f.jitter = parse_duration(val, "jitter");
        return;
    case filter_ifaces:
        for (auto d : split(val, '+')) {
            // The kernel's own rule (dev_valid_name): 1-15 bytes, not . or
            // .., no '/', ':' or white space.
            if (d.empty() || d.size() >= 16 || d == "." || d == ".." ||
                d.find_first_of("/: \t\n\v\f\r") != std::string_view::npos)
                bad(fmt::format("dev='{}' is not an interface name", val),
                    "dev= takes IFACE or IFACE+IFACE: 1 to 15 characters, no '/', ':' or spaces, as `ip link` "
                    "lists them");
            f.devices.emplace_back(d);
        }
        return;
    case filter_domain: {
        if (f.domains.size() == FL_DNS_MAX_NAMES)
            bad(fmt::format("more than {} domain= filters in '{}'", FL_DNS_MAX_NAMES, text),
                "use a suffix (*.example.com) to cover many names, or one fault per group of names");
        std::string d = lower(val);
        if (d.find(' ') != std::string::npos)
            bad(fmt::format("domain='{}' has a space", val),
                "domain= takes a name as it is looked up (api.example.com) or *.SUFFIX");
        // Resolvers send an internationalized name as punycode: a UTF-8
        // filter (bücher.de) could never match a query.
        if (std::any_of(d.begin(), d.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
            bad("domain= has a byte outside ASCII",
                "write an internationalized name as it goes on the wire, in punycode (xn--bcher-kva.de for "
                "bücher.de; `idn2` converts)");
        bool suffix = d.rfind("*.", 0) == 0;
        dns_name_hash(suffix ? std::string_view(d).substr(2) : std::string_view(d)); // validates
        if (!d.empty() && d.back() == '.')
            d.pop_back();
        f.domains.push_back(d);
        return;
    }
    case filter_qtype:
        f.qtype = parse_qtype(val);
        return;
    case filter_min:
        f.min_bytes = parse_size(val, "min");
        return;
    case filter_cache:
        if (val.empty() || val.size() >= FL_NAME_MAX || !std::all_of(val.begin(), val.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == ':' || c == '.' ||
                       c == '(' || c == ')';
            }))
            bad(fmt::format("cache={} is not a kmem cache name", val),
                "cache= names a cache as /proc/slabinfo lists it (e.g. names_cache, UDP, dentry)");
        f.cache = std::string(val);
        return;
    case filter_op:
        f.ops = parse_ops(val, def);
        return;
    case filter_path:
        if (val.empty() || val[0] != '/')
            bad(fmt::format("path='{}' is not absolute", val),
                "path= takes an absolute path: a directory (everything below it) or a file");
        if (f.paths.size() == disk_max_paths)
            bad(fmt::format("more than {} path= filters in '{}'", disk_max_paths, text),
                "name a common directory, or use one fault per group of paths");
        f.paths.emplace_back(val);
        return;
    case filter_files: {
        std::string v = lower(val);
        if (v != "regular" && v != "all")
            bad(fmt::format("files='{}' is neither regular nor all", val),
                "files=regular (the default) fails regular files only, so that pipes, sockets and "
                "terminals keep working; files=all fails them too");
        f.any_file = v == "all";
        return;
    }
    case filter_blockdev: {
        bool majmin = val.find(':') != std::string_view::npos &&
                      std::all_of(val.begin(), val.end(), [](char c) { return (c >= '0' && c <= '9') || c == ':'; });
        if (!majmin && (val.empty() || val[0] != '/'))
            bad(fmt::format("dev='{}' is neither MAJOR:MINOR nor a device path", val),
                fmt::format("{} takes dev=MAJOR:MINOR (lsblk shows them) or dev=/dev/NAME", def.name));
        f.bio_dev = std::string(val);
        return;
    }
    }
    bad(fmt::format("filter '{}' is not handled", key)); // a row names a filter this file does not parse
}

} // namespace

FaultSpec parse_fault(std::string_view text) {
    FaultSpec f;
    f.text = std::string(text);
    auto grammar = "a fault is KIND.ACTION[=VALUE]@PERCENT%[,key=value...], e.g. "
                   "net.drop@1%,proto=udp  net.delay=10ms@1%,port=443  "
                   "net.connect=ECONNREFUSED@10%,cidr=198.18.0.0/15";
    // A fault is one line of printable text: a NUL would cut a name or a
    // path short where the C library reads it (dev=lo\0x is lo), and a
    // newline or tab in a message or journal line reads as something else.
    for (size_t i = 0; i < text.size(); i++) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7f)
            bad(fmt::format("fault has a control character (byte 0x{:02x}) at offset {}", c, i),
                "write the fault on one line, without tabs, NULs or other control characters");
    }
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
    const FaultDef* def = find_fault(lower(action));
    if (!def)
        bad(fmt::format("unknown fault '{}'", action), "known faults: " + known_faults_help());
    f.def = def;
    f.err = def->err;
    f.proto_mask = def->proto_mask;
    f.dir_mask = def->dir_mask;
    if (def->rport)
        f.rport = {def->rport, def->rport};
    f.ops = def->ops;
    f.min_bytes = def->min_bytes;

    switch (def->value) {
    case FaultValue::none:
        if (has_value)
            bad(fmt::format("{} takes no value (got '={}')", def->name, value),
                def->instead.empty() ? std::string(grammar) : std::string(def->instead));
        break;
    case FaultValue::duration:
        if (!has_value)
            bad(fmt::format("{} needs a duration, e.g. {}=10ms@1%", def->name, def->name), grammar);
        f.delay = parse_duration(value, "delay");
        if (f.delay.count() <= 0)
            bad(fmt::format("{} must be longer than 0", def->name), grammar);
        break;
    case FaultValue::connect_errno:
    case FaultValue::disk_errno:
        if (!has_value)
            bad(fmt::format("{} needs an errno, e.g. {}={}@10%", def->name, def->name,
                            def->value == FaultValue::disk_errno ? "EACCES" : "ECONNREFUSED"),
                grammar);
        f.err = parse_errno(value, def->value == FaultValue::disk_errno ? ErrnoSet::disk : ErrnoSet::connect);
        break;
    }

    std::vector<std::string> given;
    for (size_t i = 1; i < parts.size(); i++) {
        std::string_view kv = parts[i];
        auto eq = kv.find('=');
        if (eq == std::string_view::npos || eq == 0 || eq + 1 == kv.size())
            bad(fmt::format("filter '{}' in '{}' is not key=value", kv, text), grammar);
        std::string key = lower(kv.substr(0, eq));
        std::string_view val = kv.substr(eq + 1);
        const FilterDef* known = nullptr;
        const FilterDef* applies = nullptr;
        for (const auto& fd : fault_filters())
            if (fd.key == key) {
                known = &fd;
                if (def->filters & fd.bit) {
                    applies = &fd;
                    break;
                }
            }
        if (!known)
            bad(fmt::format("unknown filter '{}' in '{}'", key, text),
                fmt::format("{} takes {}", def->name, filters_of(*def)));
        if (!applies)
            bad(fmt::format("filter '{}' does not apply to {}", key, def->name),
                fmt::format("{} takes {}", def->name, filters_of(*def)));
        // port=53,port=80 would keep one and drop the other without a word
        if (!applies->repeats && std::find(given.begin(), given.end(), key) != given.end())
            bad(fmt::format("filter '{}' is given twice in '{}'", key, text),
                "give each filter once; where a filter takes several values, join them with '+' (proto=udp+tcp)");
        given.push_back(key);
        parse_filter(f, applies->bit, key, val, text);
    }

    if (def->needs_blockdev && f.bio_dev.empty())
        bad(fmt::format("{} needs dev=: the block device whose I/O fails", def->name),
            "add dev=MAJOR:MINOR (lsblk shows them) or dev=/dev/NAME; without one a target's I/O to every device "
            "would fail, the root file system's included");
    if (def->value == FaultValue::duration) {
        if (f.jitter > f.delay)
            bad(fmt::format("jitter {} is larger than the delay {}", format_duration(f.jitter),
                            format_duration(f.delay)),
                "the delay is uniform in [delay-jitter, delay+jitter], so jitter must not exceed delay");
        if (f.delay + f.jitter > def->max_delay)
            bad(fmt::format("{} {} is longer than {}", def->name, format_duration(f.delay + f.jitter),
                            format_duration(def->max_delay)),
                std::string(def->max_delay_why));
    }
    return f;
}

} // namespace faultline
