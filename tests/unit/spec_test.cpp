// SPDX-License-Identifier: Apache-2.0
// The fault grammar: what it accepts, what it refuses, and that every refusal
// is a usage error with a hint.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cerrno>

#include "faultline/error.hpp"
#include "faultline/spec.hpp"

using namespace faultline;
using namespace std::chrono_literals;

namespace {

void expect_usage_error(const std::string& spec, const std::string& fragment) {
    try {
        parse_fault(spec);
        ADD_FAILURE() << "accepted: " << spec;
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage) << spec;
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
            << spec << " -> " << e.what() << " (expected to mention '" << fragment << "')";
        EXPECT_FALSE(e.hint().empty()) << spec;
    }
}

} // namespace

TEST(Percent, ThresholdIsExactAtZeroAndHundred) {
    EXPECT_EQ(percent_to_threshold(0), 0u);
    EXPECT_EQ(percent_to_threshold(100), FL_THRESHOLD_ALWAYS);
    EXPECT_EQ(percent_to_threshold(50), FL_THRESHOLD_ALWAYS / 2);
}

TEST(Percent, ResolutionIsBetterThanOnePerMillion) {
    // 0.0001% = 1e-6: threshold 4295 of 2^32; relative error < 1e-3.
    uint64_t t = percent_to_threshold(0.0001);
    double p = static_cast<double>(t) / static_cast<double>(FL_THRESHOLD_ALWAYS);
    EXPECT_NEAR(p, 1e-6, 1e-9);
    // The smallest positive percentage never rounds to "never", 99.99999999 never to "always".
    EXPECT_EQ(percent_to_threshold(1e-12), 1u);
    EXPECT_EQ(percent_to_threshold(99.9999999999), FL_THRESHOLD_ALWAYS - 1);
}

TEST(Percent, ParsesDecimalsAndRefusesTheRest) {
    EXPECT_DOUBLE_EQ(parse_percent("1%"), 1.0);
    EXPECT_DOUBLE_EQ(parse_percent("0.5%"), 0.5);
    EXPECT_DOUBLE_EQ(parse_percent("100%"), 100.0);
    EXPECT_DOUBLE_EQ(parse_percent("0.000001%"), 0.000001);
    EXPECT_DOUBLE_EQ(parse_percent("99.999999%"), 99.999999);
    // past six decimals strtod would round 100.00000000000001 to 100: refused
    for (const char* bad : {"120%", "100.1%", "-1%", "1", "%", "abc%", "1e2%", "nan%", "1..2%", " 1%", "100.0000001%",
                            "100.00000000000001%", "0.0000001%"}) {
        EXPECT_THROW(parse_percent(bad), Error) << bad;
    }
}

TEST(Seed, IsDecimalOrHexNeverOctal) {
    EXPECT_EQ(parse_seed("42"), 42u);
    EXPECT_EQ(parse_seed("010"), 10u); // std::stoull(.., 0) and CLI11 read 8
    EXPECT_EQ(parse_seed("0x10"), 16u);
    EXPECT_EQ(parse_seed("18446744073709551615"), UINT64_MAX);
    for (const char* bad : {"", "-1", "18446744073709551616", "0x", "1e3", " 1", "1 ", "0o10", "abc", "+5"})
        EXPECT_THROW(parse_seed(bad), Error) << bad;
}

TEST(Fault, AFilterGivenTwiceIsRefused) {
    // Before: the second port silently replaced the first.
    try {
        parse_fault("net.drop@1%,port=53,port=80");
        ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "filter 'port' is given twice in 'net.drop@1%,port=53,port=80'");
    }
    EXPECT_THROW(parse_fault("net.drop@1%,PROTO=udp,proto=tcp"), Error);
    EXPECT_NO_THROW(parse_fault("net.drop@1%,proto=udp+tcp,port=53"));
    // domain= is the one filter that repeats: each adds a name
    EXPECT_EQ(parse_fault("dns.drop@1%,domain=a.test,domain=*.b.test").domains.size(), 2u);
}

TEST(Duration, Units) {
    EXPECT_EQ(parse_duration("10ms", "d"), 10ms);
    EXPECT_EQ(parse_duration("1.5s", "d"), 1500ms);
    EXPECT_EQ(parse_duration("250us", "d"), 250us);
    EXPECT_EQ(parse_duration("2m", "d"), 120s);
    EXPECT_EQ(parse_duration("1h", "d"), 3600s);
    EXPECT_EQ(parse_duration("500ns", "d"), 500ns);
    for (const char* bad : {"-5ms", "10", "ms", "10 ms", "10parsecs", "1e3ms", "99999999999999h"}) {
        EXPECT_THROW(parse_duration(bad, "d"), Error) << bad;
    }
}

TEST(Fault, DropWithFilters) {
    FaultSpec f = parse_fault("net.drop@0.5%,proto=udp,direction=ingress,port=53,lport=1000-2000");
    EXPECT_EQ(f.name(), "net.drop");
    EXPECT_DOUBLE_EQ(f.percent, 0.5);
    EXPECT_EQ(f.proto_mask, FL_PROTO_UDP);
    EXPECT_EQ(f.dir_mask, FL_DIR_INGRESS);
    EXPECT_EQ(f.rport.lo, 53);
    EXPECT_EQ(f.rport.hi, 53);
    EXPECT_EQ(f.lport.lo, 1000);
    EXPECT_EQ(f.lport.hi, 2000);
    EXPECT_FALSE(f.cidr);
}

TEST(Fault, Defaults) {
    FaultSpec f = parse_fault("net.drop@1%");
    EXPECT_EQ(f.proto_mask, FL_PROTO_ANY);
    EXPECT_EQ(f.dir_mask, FL_DIR_EGRESS);
    EXPECT_TRUE(f.rport.any());
    EXPECT_TRUE(f.lport.any());
    EXPECT_EQ(f.sample, FL_SAMPLE_EVENT);
    EXPECT_EQ(f.limit, 0u);
}

TEST(Fault, DelayWithJitterAndDevices) {
    FaultSpec f = parse_fault("net.delay=10ms@1%,jitter=2ms,dev=veth0+lo,per=flow");
    EXPECT_EQ(f.name(), "net.delay");
    EXPECT_EQ(f.delay, 10ms);
    EXPECT_EQ(f.jitter, 2ms);
    EXPECT_EQ(f.devices, (std::vector<std::string>{"veth0", "lo"}));
    EXPECT_EQ(f.sample, FL_SAMPLE_FLOW);
}

TEST(Fault, ConnectErrnos) {
    EXPECT_EQ(parse_fault("net.connect=ECONNREFUSED@10%").err, ECONNREFUSED);
    EXPECT_EQ(parse_fault("net.connect=etimedout@10%").err, ETIMEDOUT);
    EXPECT_EQ(parse_fault("net.connect=ENETUNREACH@100%,proto=tcp").err, ENETUNREACH);
    FaultSpec f = parse_fault("net.connect=ECONNREFUSED@10%,cidr=198.18.0.0/15");
    ASSERT_TRUE(f.cidr);
    EXPECT_EQ(f.cidr->family, 4);
    EXPECT_EQ(f.cidr->addr[0], inet_addr("198.18.0.0"));
    EXPECT_EQ(f.cidr->mask[0], inet_addr("255.254.0.0"));
}

TEST(Cidr, V4AndV6AreMasked) {
    Cidr c4 = parse_cidr("198.19.7.9/15");
    EXPECT_EQ(c4.addr[0], inet_addr("198.18.0.0"));
    Cidr host = parse_cidr("198.18.0.1");
    EXPECT_EQ(host.prefix, 32u);
    EXPECT_EQ(host.mask[0], 0xffffffffu);
    Cidr c6 = parse_cidr("2001:db8:ffff::1/32");
    EXPECT_EQ(c6.family, 6);
    EXPECT_EQ(c6.addr[0], htonl(0x20010db8));
    EXPECT_EQ(c6.addr[1], 0u);
    EXPECT_EQ(c6.mask[0], 0xffffffffu);
    EXPECT_EQ(c6.mask[1], 0u);
    Cidr c6b = parse_cidr("fd00::/100");
    EXPECT_EQ(c6b.mask[3], htonl(0xf0000000));
}

TEST(Fault, BadInputIsRefusedWithAReasonAndHint) {
    expect_usage_error("net.explode@1%", "unknown fault");
    expect_usage_error("net.drop@120%", "above 100%");
    expect_usage_error("net.drop@-1%", "not a number");
    expect_usage_error("net.drop", "no @PERCENT%");
    expect_usage_error("net.drop@1", "must end with '%'");
    expect_usage_error("net.delay=-5ms@1%", "negative");
    expect_usage_error("net.delay=10years@1%", "unknown unit");
    expect_usage_error("net.delay=11s@1%", "longer than 10s");
    expect_usage_error("net.delay@1%", "needs a duration");
    expect_usage_error("net.delay=0ms@1%", "longer than 0");
    expect_usage_error("net.delay=10ms@1%,jitter=20ms", "larger than the delay");
    expect_usage_error("net.delay=10ms@1%,direction=ingress", "ingress is not supported");
    expect_usage_error("net.drop=3@1%", "takes no value");
    expect_usage_error("net.connect=EWHAT@1%", "unknown errno");
    expect_usage_error("net.connect@1%", "needs an errno");
    expect_usage_error("net.connect=ECONNREFUSED@1%,direction=egress", "does not apply to net.connect");
    // a connect() has no local port yet: lport= could never match
    expect_usage_error("net.connect=ECONNREFUSED@1%,lport=80", "does not apply to net.connect");
    expect_usage_error("net.drop@1%,cidr=300.1.1.1/8", "not an IPv4 or IPv6 address");
    expect_usage_error("net.drop@1%,cidr=10.0.0.0/33", "invalid prefix");
    expect_usage_error("net.drop@1%,cidr=::/129", "invalid prefix");
    expect_usage_error("net.drop@1%,port=70000", "not a port");
    expect_usage_error("net.drop@1%,port=http", "not a port");
    expect_usage_error("net.drop@1%,port=90-80", "empty range");
    expect_usage_error("net.drop@1%,port=1-2-3", "not a port range");
    expect_usage_error("net.drop@1%,proto=sctp", "unknown protocol");
    expect_usage_error("net.drop@1%,direction=sideways", "unknown direction");
    expect_usage_error("net.drop@1%,per=moon", "unknown sampling unit");
    expect_usage_error("net.drop@1%,limit=0", "not a positive count");
    expect_usage_error("net.drop@1%,jitter=1ms", "does not apply to net.drop");
    expect_usage_error("net.drop@1%,dev=lo", "does not apply to net.drop");
    expect_usage_error("net.drop@1%,colour=red", "unknown filter");
    expect_usage_error("net.drop@1%,port", "not key=value");
    expect_usage_error("net.drop@1%,", "not key=value");
}

TEST(Format, RoundTrips) {
    EXPECT_EQ(format_percent(1), "1%");
    EXPECT_EQ(format_percent(0.0001), "0.0001%");
    EXPECT_EQ(format_duration(10ms), "10ms");
    EXPECT_EQ(format_duration(1500ms), "1500ms");
    EXPECT_EQ(format_duration(2s), "2s");
}

TEST(Fault, DnsDropDefaultsAndFilters) {
    FaultSpec f = parse_fault("dns.drop@5%");
    EXPECT_EQ(f.name(), "dns.drop");
    EXPECT_EQ(f.name(), "dns.drop");
    EXPECT_EQ(f.proto_mask, FL_PROTO_UDP | FL_PROTO_TCP); // answers over UDP and TCP,
    EXPECT_EQ(f.dir_mask, FL_DIR_INGRESS);                // where they reach the target,
    EXPECT_EQ(f.rport.lo, 53);                            // from the resolver's port 53
    EXPECT_EQ(f.rport.hi, 53);
    EXPECT_TRUE(f.domains.empty());
    EXPECT_EQ(f.qtype, 0);

    f = parse_fault("dns.drop@1%,domain=API.example.com.,domain=*.svc.test,qtype=aaaa,server=10.0.0.0/8,port=5353,"
                    "per=name,limit=10");
    EXPECT_EQ(f.domains, (std::vector<std::string>{"api.example.com", "*.svc.test"}));
    EXPECT_EQ(f.qtype, 28);
    ASSERT_TRUE(f.cidr);
    EXPECT_EQ(f.cidr->prefix, 8u);
    EXPECT_EQ(f.rport.lo, 5353);
    EXPECT_EQ(f.sample, FL_SAMPLE_NAME);
    EXPECT_EQ(f.limit, 10u);
    EXPECT_EQ(parse_qtype("SRV"), 33);
    EXPECT_EQ(parse_qtype("TYPE65"), 65);
    EXPECT_EQ(parse_qtype("257"), 257);
}

TEST(Fault, DnsNameHashIsCaseInsensitiveAndIgnoresTheRootDot) {
    EXPECT_EQ(dns_name_hash("Example.COM"), dns_name_hash("example.com."));
    EXPECT_NE(dns_name_hash("example.com"), dns_name_hash("example.co"));
    // Wire format: label boundaries are part of the name.
    EXPECT_NE(dns_name_hash("ab.c"), dns_name_hash("a.bc"));
    // The BPF side hashes the wire bytes from the last to the first.
    const uint8_t wire[] = {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm'};
    uint64_t h = FL_DNS_HASH_INIT;
    for (size_t i = sizeof wire; i-- > 0;)
        h = fl_dns_hash_step(h, wire[i]);
    EXPECT_EQ(dns_name_hash("www.example.com"), h);
}

TEST(Fault, BadDnsInputIsRefusedWithAReasonAndHint) {
    expect_usage_error("dns.drop=3@1%", "takes no value");
    expect_usage_error("dns.drop@1%,domain=", "not key=value");
    expect_usage_error("dns.drop@1%,domain=.", "is empty");
    expect_usage_error("dns.drop@1%,domain=a..b", "empty label");
    expect_usage_error("dns.drop@1%,domain=" + std::string(64, 'a') + ".com", "longer than 63");
    std::string l63(63, 'a');
    expect_usage_error("dns.drop@1%,domain=" + l63 + "." + l63 + "." + l63 + "." + l63, "longer than 255");
    expect_usage_error("dns.drop@1%,domain=a.*.com", "only allowed as the whole first label");
    expect_usage_error("dns.drop@1%,domain=a,domain=b,domain=c,domain=d,domain=e", "more than 4 domain=");
    expect_usage_error("dns.drop@1%,qtype=BOGUS", "unknown DNS type");
    expect_usage_error("dns.drop@1%,qtype=70000", "unknown DNS type");
    expect_usage_error("dns.drop@1%,proto=tcp", "does not apply to dns.drop");
    expect_usage_error("dns.drop@1%,direction=egress", "does not apply to dns.drop");
    expect_usage_error("dns.drop@1%,cidr=10.0.0.0/8", "does not apply to dns.drop");
    expect_usage_error("dns.drop@1%,per=flow", "unknown sampling unit 'flow' for dns.drop");
    expect_usage_error("dns.drop@1%,server=resolver", "not an IPv4 or IPv6 address");
    expect_usage_error("net.drop@1%,domain=example.com", "does not apply to net.drop");
}

TEST(Fault, DnsDelayHoldsQueriesOnEgress) {
    FaultSpec f = parse_fault("dns.delay=200ms@10%,domain=*.svc.test,jitter=50ms,dev=eth0");
    EXPECT_EQ(f.name(), "dns.delay");
    EXPECT_EQ(f.name(), "dns.delay");
    EXPECT_TRUE(f.is_dns());
    EXPECT_TRUE(f.is_delay());
    EXPECT_EQ(f.delay, std::chrono::milliseconds(200));
    EXPECT_EQ(f.jitter, std::chrono::milliseconds(50));
    EXPECT_EQ(f.dir_mask, FL_DIR_EGRESS); // the query, where it leaves
    EXPECT_EQ(f.rport.lo, 53);
    EXPECT_EQ(f.devices, std::vector<std::string>{"eth0"});
    EXPECT_EQ(f.def->probe_name(true), "dns.drop"); // a shadow delay holds nothing
    expect_usage_error("dns.delay@1%", "needs a duration");
    expect_usage_error("dns.delay=0ms@1%", "longer than 0");
    expect_usage_error("dns.delay=11s@1%", "longer than 10s");
    expect_usage_error("dns.delay=10ms@1%,jitter=20ms", "larger than the delay");
    expect_usage_error("dns.drop@1%,jitter=1ms", "does not apply to dns.drop");
}

TEST(Fault, DnsErrorAnswersPickTheQueryOnEgress) {
    struct Case {
        const char* spec;
        int rcode;
        const char* name;
    };
    for (auto c : {Case{"dns.nxdomain@1%", 3, "dns.nxdomain"}, Case{"DNS.SERVFAIL@1%,domain=a.test", 2, "dns.servfail"},
                   Case{"dns.refused@100%,dev=eth0+lo,qtype=AAAA", 5, "dns.refused"}}) {
        FaultSpec f = parse_fault(c.spec);
        EXPECT_EQ(f.def->action, FL_ACT_REWRITE) << c.spec;
        EXPECT_EQ(f.err, c.rcode) << c.spec;
        EXPECT_EQ(f.name(), c.name);
        EXPECT_TRUE(f.is_dns());
        EXPECT_FALSE(f.is_delay());
        EXPECT_EQ(f.dir_mask, FL_DIR_EGRESS); // decided on the query
        EXPECT_EQ(f.proto_mask, FL_PROTO_UDP | FL_PROTO_TCP);
        EXPECT_EQ(f.rport.lo, 53);
    }
    EXPECT_EQ(parse_fault("dns.refused@1%,dev=eth0+lo").devices, (std::vector<std::string>{"eth0", "lo"}));
    // A truncated answer: TC, no rcode; only over UDP (TCP answers are never truncated).
    FaultSpec tc = parse_fault("dns.truncate@1%,domain=a.test");
    EXPECT_EQ(tc.def->action, FL_ACT_REWRITE);
    EXPECT_EQ(tc.err, FL_DNS_TC);
    EXPECT_EQ(tc.proto_mask, FL_PROTO_UDP);
    EXPECT_EQ(tc.rport.lo, 53);
    EXPECT_EQ(find_fault("dns.refused")->probe_name(true), "dns.drop"); // a shadow rewrite rewrites nothing
    expect_usage_error("dns.nxdomain=3@1%", "takes no value");
    expect_usage_error("dns.servfail@1%,jitter=1ms", "does not apply to dns.servfail");
    expect_usage_error("dns.refused@1%,proto=udp", "does not apply to dns.refused");
}

TEST(Fault, MemEnomemTakesAMinimumSizeAndALimit) {
    FaultSpec f = parse_fault("mem.enomem@5%");
    EXPECT_EQ(f.name(), "mem.enomem");
    EXPECT_EQ(f.name(), "mem.enomem");
    EXPECT_EQ(f.err, ENOMEM);
    EXPECT_EQ(f.min_bytes, find_fault("mem.enomem")->min_bytes);
    EXPECT_FALSE(f.is_dns());
    EXPECT_EQ(parse_fault("mem.enomem@1%,min=64KiB,limit=3").min_bytes, 64u << 10);
    EXPECT_EQ(parse_fault("mem.enomem@1%,min=4096").min_bytes, 4096u);
    EXPECT_EQ(parse_fault("mem.enomem@1%,min=2g").min_bytes, 2ull << 30);
    EXPECT_EQ(parse_fault("mem.enomem@1%,limit=3").limit, 3u);
    expect_usage_error("mem.enomem=1@1%", "takes no value");
    expect_usage_error("mem.enomem@1%,min=big", "is not a size");
    expect_usage_error("mem.enomem@1%,min=3T", "unknown unit");
    expect_usage_error("mem.enomem@1%,min=99999999G", "too large");
    expect_usage_error("mem.enomem@1%,proto=tcp", "does not apply to mem.enomem");
    expect_usage_error("mem.enomem@1%,dev=eth0", "does not apply to mem.enomem");
    f = parse_fault("mem.slab@0.5%,limit=10");
    EXPECT_EQ(f.name(), "mem.slab");
    EXPECT_EQ(f.name(), "mem.slab");
    EXPECT_EQ(f.err, ENOMEM);
    EXPECT_EQ(f.limit, 10u);
    expect_usage_error("mem.slab=1@1%", "takes no value");
    f = parse_fault("disk.bio@1%,op=write,limit=5,dev=7:0");
    EXPECT_EQ(f.name(), "disk.bio");
    EXPECT_EQ(f.name(), "disk.bio");
    EXPECT_EQ(f.err, EIO);
    EXPECT_EQ(f.ops, FL_OP_WRITE);
    EXPECT_EQ(f.bio_dev, "7:0");
    EXPECT_EQ(parse_fault("disk.bio@1%,dev=/dev/nullb0").ops, FL_OP_READ | FL_OP_WRITE);
    EXPECT_EQ(parse_fault("disk.bio@1%,dev=/dev/nullb0").bio_dev, "/dev/nullb0");
    expect_usage_error("disk.bio@1%", "needs dev=");
    expect_usage_error("disk.bio@1%,dev=nullb0", "neither MAJOR:MINOR nor a device path");
    expect_usage_error("disk.bio=EROFS@1%,dev=7:0", "takes no value");
    expect_usage_error("disk.bio@1%,op=open,dev=7:0", "no operation 'open'");
    expect_usage_error("disk.bio@1%,path=/x,dev=7:0", "does not apply to disk.bio");
    expect_usage_error("mem.slab@1%,min=1M", "does not apply to mem.slab");
}

TEST(Fault, DiskFaultsTakeOperationsPathsAndFileTypes) {
    FaultSpec f = parse_fault("disk.eio@5%");
    EXPECT_EQ(f.name(), "disk.eio");
    EXPECT_EQ(f.def->action, FL_ACT_ERR);
    EXPECT_EQ(f.err, EIO);
    EXPECT_EQ(f.ops, FL_OP_OPEN | FL_OP_READ | FL_OP_WRITE); // every op it can fail
    EXPECT_FALSE(f.any_file);
    EXPECT_TRUE(f.paths.empty());
    EXPECT_TRUE(f.is_disk());
    f = parse_fault("disk.errno=eacces@1%,op=open+write,path=/var/lib/db,path=/etc/x.conf,files=all,limit=9");
    EXPECT_EQ(f.name(), "disk.errno");
    EXPECT_EQ(f.err, EACCES);
    EXPECT_EQ(f.ops, FL_OP_OPEN | FL_OP_WRITE);
    EXPECT_EQ(f.paths, (std::vector<std::string>{"/var/lib/db", "/etc/x.conf"}));
    EXPECT_TRUE(f.any_file);
    EXPECT_EQ(f.limit, 9u);
    EXPECT_EQ(parse_fault("disk.errno=ENOSPC@1%").err, ENOSPC);
    f = parse_fault("disk.full@10%,path=/data");
    EXPECT_EQ(f.name(), "disk.full");
    EXPECT_EQ(f.name(), "disk.full");
    EXPECT_EQ(f.err, ENOSPC);
    EXPECT_EQ(f.ops, FL_OP_WRITE); // ENOSPC only on writes
    EXPECT_EQ(parse_fault("disk.full@1%,op=write").ops, FL_OP_WRITE);
    f = parse_fault("disk.delay=10ms@5%,jitter=2ms,op=write,path=/data");
    EXPECT_EQ(f.name(), "disk.delay");
    EXPECT_EQ(f.name(), "disk.delay");
    EXPECT_EQ(f.delay, std::chrono::milliseconds(10));
    EXPECT_EQ(f.jitter, std::chrono::milliseconds(2));
    EXPECT_EQ(f.ops, FL_OP_WRITE);
    EXPECT_TRUE(f.is_disk());
    EXPECT_FALSE(f.is_delay()); // no sch_fq
    EXPECT_EQ(parse_fault("disk.delay=50ms@1%").ops, FL_OP_OPEN | FL_OP_READ | FL_OP_WRITE);
    expect_usage_error("disk.delay@1%", "needs a duration");
    expect_usage_error("disk.delay=40ms@1%,jitter=11ms", "longer than 50ms");
    expect_usage_error("disk.delay=1s@1%", "longer than 50ms");
    expect_usage_error("disk.delay=5ms@1%,jitter=6ms", "larger than the delay");
    expect_usage_error("disk.eio@1%,jitter=1ms", "does not apply to disk.eio");
    expect_usage_error("disk.eio=5@1%", "takes no value");
    expect_usage_error("disk.errno@1%", "needs an errno");
    expect_usage_error("disk.errno=ECONNREFUSED@1%", "unknown errno");
    expect_usage_error("disk.full@1%,op=read", "disk.full has no operation 'read'");
    EXPECT_EQ(parse_fault("disk.eio@1%,op=fsync+read").ops, FL_OP_FSYNC | FL_OP_READ);
    expect_usage_error("disk.eio@1%,op=stat", "unknown operation");
    expect_usage_error("disk.eio@1%,path=data", "not absolute");
    expect_usage_error("disk.eio@1%,files=dirs", "neither regular nor all");
    expect_usage_error("disk.eio@1%,proto=tcp", "does not apply to disk.eio");
    expect_usage_error("disk.eio@1%,path=/1,path=/2,path=/3,path=/4,path=/5,path=/6,path=/7,path=/8,path=/9",
                       "more than 8 path=");
}

TEST(Messages, AQuotedValueStaysOneLineAndIsCutBetweenCharacters) {
    EXPECT_EQ(shorten_message("a\nb\tc\x01"), "a\\nb\\tc\\x01");
    EXPECT_EQ(shorten_message(std::string("nul\0here", 8)), "nul\\x00here");
    std::string long_utf8;
    for (int i = 0; i < 300; i++)
        long_utf8 += "é"; // two bytes each: 600 bytes
    const std::string m = shorten_message("x" + long_utf8);
    EXPECT_NE(m.find("bytes cut"), std::string::npos);
    EXPECT_LT(m.size(), 420u);
    // every "é" whole: the text is valid UTF-8 (each lead byte followed by its continuation)
    for (size_t i = 0; i < m.size(); i++)
        if (static_cast<unsigned char>(m[i]) == 0xc3)
            EXPECT_EQ(static_cast<unsigned char>(m[i + 1]), 0xa9u) << "cut inside a character at " << i;
    EXPECT_NE(static_cast<unsigned char>(m[m.find(" … [") - 1]), 0xc3u);
    // Not UTF-8: a kilobyte of continuation bytes (fuzz_grammar found one
    // kept whole, 1088 bytes, after `net.drop`) is cut like any other text.
    const std::string bytes = shorten_message("net.drop" + std::string(1080, '\x92'));
    EXPECT_NE(bytes.find("bytes cut"), std::string::npos);
    EXPECT_LT(bytes.size(), 420u);
}
