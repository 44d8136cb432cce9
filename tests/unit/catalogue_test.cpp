// SPDX-License-Identifier: Apache-2.0
// The bad-input catalogue of the fault grammar (issue 12): cases generated
// from the registry (every kind, every filter key it takes and every one it
// does not, every value slot), each of which must be refused with
// Error(usage), a one-line message and a hint: never another exception,
// never accepted. A new kind or filter joins the catalogue by its row.
// Accepted by design, so not in it: names, keys and words in any case
// (NET.DROP, LIMIT=5, op=READ), "1.%" (a number), a bare address as cidr=
// (a /32 or /128), the aliases dir=, ops=, direction=in, per=connection,
// and any cache= name /proc/slabinfo could list.
// What it found (fixed): a NUL cut dev= and path= short where the C
// library reads them (dev=lo\0x attached to lo); dev= took '/', spaces,
// "." and ".."; domain= took spaces and UTF-8 (which no query carries:
// resolvers send punycode); a newline in cache= reached the
// one-line error.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <set>
#include <string>
#include <vector>

#include "faultline/error.hpp"
#include "faultline/faults.hpp"
#include "faultline/spec.hpp"

using namespace faultline;

namespace {

const std::string nul("bad\0value", 9);
const std::string huge(10000, '9');
const std::string not_utf8 = "\xff\xfe\x80";

// Bad in every slot: empty, blank, NUL, not UTF-8, a 10 kB value.
const std::vector<std::string> bad_anywhere = {"", " ", nul, not_utf8, huge, "\t"};

// Numbers that are not what a count, port or size slot takes.
const std::vector<std::string> bad_numbers = {"-1",  "99999999999999999999999", "1e3", "0x10", "nan", "inf", "1.5", "+",
                                              "1 2", "18446744073709551616",    "one"};

// A value the filter takes, for building cases around it.
std::string good_value(const FilterDef& f, const FaultDef& k) {
    switch (f.bit) {
    case filter_proto:
        return (k.protos & FL_PROTO_UDP) ? "udp" : "tcp";
    case filter_port:
    case filter_lport:
        return "80";
    case filter_cidr:
    case filter_server:
        return "10.0.0.0/8";
    case filter_direction:
        return "egress";
    case filter_per_flow:
        return "flow";
    case filter_per_name:
        return "name";
    case filter_limit:
        return "5";
    case filter_jitter:
        return "1ms";
    case filter_ifaces:
        return "lo";
    case filter_domain:
        return "example.com";
    case filter_qtype:
        return "AAAA";
    case filter_min:
        return "4096";
    case filter_cache:
        return "kmalloc-64";
    case filter_op:
        return (k.ops_allowed & FL_OP_READ) ? "read" : "write";
    case filter_path:
        return "/var/lib";
    case filter_files:
        return "all";
    case filter_blockdev:
        return "8:0";
    }
    return "x";
}

// Values the filter must refuse (besides bad_anywhere).
std::vector<std::string> bad_values(const FilterDef& f) {
    std::vector<std::string> v;
    auto add = [&](std::initializer_list<std::string> xs) { v.insert(v.end(), xs); };
    switch (f.bit) {
    case filter_proto:
        add({"sctp", "udp+", "+udp", "udp++tcp", "UDP-lite", "6", "udp,tcp"});
        break;
    case filter_port:
    case filter_lport:
        v = bad_numbers;
        add({"65536", "70000", "90-80", "1-2-3", "-", "80-", "http", "0x50"});
        break;
    case filter_cidr:
    case filter_server:
        add({"10.0.0.0/33", "300.1.1.1/8", "::/129", "10.0.0.0/-1", "/8", "10.0.0/8", "fe80::1%lo/64", "10.0.0.0/8/8",
             "localhost/8", "::ffff:10.0.0.0/200", "10.0.0.0/0x8"});
        break;
    case filter_direction:
        add({"sideways", "egress+ingress", "EGRESS "});
        break;
    case filter_per_flow:
    case filter_per_name:
        add({"moon", "packets", "flow+packet"});
        break;
    case filter_limit:
        v = bad_numbers;
        add({"0", "-0"});
        break;
    case filter_jitter:
        add({"-1ms", "1", "1parsec", "1e99s", "ms", "1ms2", "nan ms", "99999999999999999999s"});
        break;
    case filter_ifaces:
        add({"a-name-longer-than-ifnamsiz", std::string("lo\0x", 4), "lo:1", "lo+", "+lo", "lo++eth0", "a/b", "a b",
             ".", ".."});
        break;
    case filter_domain:
        add({std::string(254, 'a'), std::string(64, 'a') + ".com", "a..b", "*.", "a.*.com", "**.com", "*", "a b.com",
             "..", "exa mple", "bücher.de"});
        break;
    case filter_qtype:
        add({"BOGUS", "-1", "65536", "99999999999999999999", "A+AAAA", "TYPE"});
        break;
    case filter_min:
        v = bad_numbers;
        add({"4KiBB", "-4k", "1Z", "k", "99999999999999999999k"});
        break;
    case filter_cache:
        add({std::string(100, 'c'), "a/b", "a b", "kmalloc\n64"});
        break;
    case filter_op:
        add({"explode", "read+", "+read", "read++write", "read,write"});
        break;
    case filter_path:
        add({"relative/path", "./x", "~/x", "/a\nb", std::string("/a\0b", 4)});
        break;
    case filter_files:
        add({"some", "regular+all", "dirs"});
        break;
    case filter_blockdev:
        add({"8", "8:", ":0", "-8:0", "8:-1", "99999999999:0", "8:0:0", "sda", "/dev/", "/etc/passwd/x", "x:y"});
        break;
    }
    // Empty, blank and NUL everywhere; for free-form names, the 10 kB value
    // and a tab are bad too (the other slots also refuse non-UTF-8).
    for (const auto& b : bad_anywhere)
        if (b != not_utf8 || (f.bit != filter_cache && f.bit != filter_path && f.bit != filter_ifaces))
            v.push_back(b);
    return v;
}

std::string value_for(FaultValue v) {
    switch (v) {
    case FaultValue::none:
        return "";
    case FaultValue::duration:
        return "=10ms";
    case FaultValue::connect_errno:
        return "=ECONNREFUSED";
    case FaultValue::disk_errno:
        return "=EIO";
    }
    return "";
}

// KIND[=VALUE]@1% with what the kind requires.
std::string base(const FaultDef& k, const std::string& value, const std::string& percent = "1%") {
    std::string s = fmt::format("{}{}@{}", k.name, value, percent);
    if (k.needs_blockdev)
        s += ",dev=8:0";
    return s;
}

struct Case {
    std::string text;
    std::string why;
};

std::vector<Case> catalogue() {
    std::vector<Case> cases;
    auto add = [&](std::string text, std::string why) { cases.push_back({std::move(text), std::move(why)}); };
    // Fault names.
    for (const std::string& n :
         std::vector<std::string>{"", "net", "net.", ".drop", "net..drop", "net.drop.x", "net.drop ", " net.drop",
                                  "net.dr\xffop", nul, huge, "mem.enomem.slab", "disk", "dns.*"})
        add(n + "@1%", "fault name");
    for (const auto& k : fault_kinds()) {
        const std::string name(k.name);
        const std::string val = value_for(k.value);
        // Percentages.
        for (const std::string& p :
             {"",     "%",  "1",      "1%%", "-1%", "101%", "100.0000001%",          "1e2%", "0x10%", "nan%",
              "inf%", ".%", "1.2.3%", "1 %", " 1%", "+1%",  "99999999999999999999%", "1%x",  "%1",    "1,5%",
              "١%"})
            add(base(k, val, p), "percentage");
        add(fmt::format("{}{}", name, val), "no percentage");
        add(fmt::format("{}{}@1%@2%", name, val), "two percentages");
        // The value.
        switch (k.value) {
        case FaultValue::none:
            for (const std::string& v : std::vector<std::string>{"=", "=3", "=EIO", "=10ms"})
                add(base(k, v), "a value where none is taken");
            break;
        case FaultValue::duration:
            for (const std::string& v :
                 std::vector<std::string>{"", "=", "=-5ms", "=0ms", "=0", "=10years", "=1e99s", "=ms", "=10", "=11s",
                                          "=99999999999999999999ns", "=1.5.5ms", "=nanms", "=10ms10", "=" + huge})
                add(base(k, v), "duration");
            break;
        case FaultValue::connect_errno:
        case FaultValue::disk_errno:
            for (const std::string& v : std::vector<std::string>{"", "=", "=EWHAT", "=0", "=-5", "=4096", "=eio ", "=E",
                                                                 "=" + huge, "=99999999999999999999", "=EIO+ENOSPC"})
                add(base(k, v), "errno");
            break;
        }
        // Filters: every key it takes with every bad value; twice where it
        // does not repeat; every key it does not take.
        const std::string ok = base(k, val);
        std::set<std::string> taken;
        for (const auto& f : fault_filters()) {
            if (!(k.filters & f.bit))
                continue;
            taken.insert(std::string(f.key));
            for (const auto& b : bad_values(f))
                add(fmt::format("{},{}={}", ok, f.key, b), fmt::format("{}= value", f.key));
            if (!f.repeats && !(f.bit == filter_blockdev && k.needs_blockdev))
                add(fmt::format("{},{}={},{}={}", ok, f.key, good_value(f, k), f.key, good_value(f, k)),
                    fmt::format("{}= twice", f.key));
        }
        for (const auto& f : fault_filters())
            if (!taken.count(std::string(f.key)))
                add(fmt::format("{},{}={}", ok, f.key, good_value(f, k)), fmt::format("{}= not taken", f.key));
        // Structure.
        for (const std::string& s : std::vector<std::string>{",", ",,", ",limit", ",=5", ",limit==5", ", limit=5",
                                                             ",limit=5,", ",colour=red", ",limit=5 "})
            add(ok + s, "structure");
    }
    return cases;
}

// The valid values the cases are built around are valid, so each case is
// refused for the one thing it changes.
TEST(Catalogue, TheGoodValuesItBuildsOnAreAccepted) {
    for (const auto& k : fault_kinds()) {
        const std::string ok = base(k, value_for(k.value));
        EXPECT_NO_THROW(parse_fault(ok)) << ok;
        for (const auto& f : fault_filters())
            if ((k.filters & f.bit) && !(f.bit == filter_blockdev && k.needs_blockdev)) {
                std::string s = fmt::format("{},{}={}", ok, f.key, good_value(f, k));
                EXPECT_NO_THROW(parse_fault(s)) << s;
            }
    }
}

TEST(Catalogue, EveryBadFaultIsRefusedWithOneLineAndAHint) {
    auto cases = catalogue();
    // The issue asks for at least 400; the registry's 19 kinds give more.
    EXPECT_GE(cases.size(), 400u);
    size_t refused = 0;
    for (const auto& c : cases) {
        try {
            FaultSpec s = parse_fault(c.text);
            ADD_FAILURE() << "accepted (" << c.why << "): '" << c.text << "' as " << s.name();
        } catch (const Error& e) {
            std::string what = e.what();
            bool ok = e.kind() == ErrorKind::usage && !what.empty() && what.find('\n') == std::string::npos &&
                      what.find('\0') == std::string::npos && what.size() < 1000 && !e.hint().empty();
            EXPECT_TRUE(ok) << c.why << ": '" << c.text << "' -> " << what << " / hint: " << e.hint();
            refused += ok;
        } catch (const std::exception& e) {
            ADD_FAILURE() << c.why << ": '" << c.text << "' threw a non-faultline exception: " << e.what();
        }
    }
    RecordProperty("cases", static_cast<int>(cases.size()));
    std::cout << "catalogue: " << cases.size() << " bad faults, " << refused << " refused as they should be\n";
}

} // namespace
