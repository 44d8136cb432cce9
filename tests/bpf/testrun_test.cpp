// SPDX-License-Identifier: Apache-2.0
// The cgroup_skb programs on crafted packets, through BPF_PROG_TEST_RUN.
// Needs root. The test-run skb belongs to a dummy socket in the caller's
// cgroup, so each test moves this process into a scratch target cgroup.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <memory>
#include <netinet/in.h>
#include <random>
#include <set>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "../support/packet.hpp"
#include "../support/require.hpp"
#include "../support/stats.hpp"
#include "faultline/bpf.hpp"
#include "faultline/cgroup.hpp"
#include "faultline/qdisc.hpp"
#include "faultline/session.hpp"
#include "faultline/spec.hpp"

using namespace faultline;
using faultline::test::dns_client_socket;
using faultline::test::dns_msg_offset;
using faultline::test::dns_packet;
using faultline::test::DnsMessage;
using faultline::test::expect_binomial;
using faultline::test::PacketBuilder;

namespace {

constexpr uint32_t pass = 1, drop_egress = 2, drop_ingress = 0;

class TestRun : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0)
            GTEST_SKIP() << "needs root (loads BPF programs)";
        REQUIRE_FAULT("net.drop"); // the cgroup_skb programs load and attach here
        root_ = cgroup2_mount();
        home_ = root_ + cgroup_of(getpid());
        target_ = std::make_unique<ScratchCgroup>(root_, "faultline-test-target-" + std::to_string(getpid()));
        other_ = std::make_unique<ScratchCgroup>(root_, "faultline-test-other-" + std::to_string(getpid()));
        obj_ = bpf::Object::load({bpf::Program::skb_egress, bpf::Program::skb_ingress});
        enter(target_->path());
    }
    void TearDown() override {
        if (!target_)
            return;
        enter(home_);
        obj_.reset();
        target_.reset();
        other_.reset();
    }
    void enter(const std::string& cg) { cgroup_move(cg, getpid()); }

    // Configure slot `slot` from a spec on `cg` (default: the target).
    void add(const std::string& spec, uint32_t slot = 0, const CgroupRef* cg = nullptr,
             std::optional<uint64_t> seed = std::nullopt, int64_t ttl_ns = 60'000'000'000) {
        const CgroupRef& t = cg ? *cg : target_->ref();
        FaultSpec f = parse_fault(spec);
        fl_experiment e = make_experiment(f, t, seed, slot);
        e.expires = obj_->deadline_jiffies(static_cast<uint64_t>(static_cast<int64_t>(monotonic_ns()) + ttl_ns));
        obj_->set_experiment(slot, e);
        for (uint32_t hook : {FL_HOOK_EGRESS, FL_HOOK_INGRESS}) {
            if (!(f.dir_mask & (hook == FL_HOOK_EGRESS ? FL_DIR_EGRESS : FL_DIR_INGRESS)))
                continue;
            auto& v = index_[{t.id, hook}];
            v.slots[v.n++] = slot;
            obj_->set_index(t.id, hook, v);
        }
        levels_ |= 1u << t.level;
        obj_->set_levels(levels_);
    }

    // The test-run skb leaves by the loopback device (ifindex 1) of this
    // process's network namespace: list it as a device whose fq holds delays.
    void hold_on_lo() { obj_->add_held_device(static_cast<uint32_t>(netns_ino("")), 1); }

    uint32_t egress(const std::vector<uint8_t>& pkt, uint32_t repeat = 1) {
        return obj_->test_run(bpf::Program::skb_egress, pkt, repeat).retval;
    }
    uint32_t ingress(const std::vector<uint8_t>& pkt) { return obj_->test_run(bpf::Program::skb_ingress, pkt).retval; }

    std::string root_, home_;
    std::unique_ptr<ScratchCgroup> target_, other_;
    std::unique_ptr<bpf::Object> obj_;
    std::map<std::pair<uint64_t, uint32_t>, fl_index_val> index_;
    uint32_t levels_ = 0;
};

const auto udp4 = PacketBuilder().v4("198.18.0.1", "198.18.0.2").udp(40000, 53).payload(32).build();
const auto tcp4 = PacketBuilder().v4("198.18.0.1", "198.18.0.2").tcp(40000, 443).build();
const auto udp6 = PacketBuilder().v6("2001:db8::1", "2001:db8::2").udp(40000, 53).build();
const auto tcp6 = PacketBuilder().v6("2001:db8::1", "2001:db8:1::2").tcp(40000, 443).build();

} // namespace

TEST_F(TestRun, HundredPercentDropsEveryPacketAndCountsIt) {
    add("net.drop@100%");
    EXPECT_EQ(egress(udp4), drop_egress);
    EXPECT_EQ(egress(tcp6), drop_egress);
    auto c = obj_->counters(0);
    EXPECT_EQ(c.evaluated, 2u);
    EXPECT_EQ(c.matched, 2u);
    EXPECT_EQ(c.injected, 2u);
}

TEST_F(TestRun, ZeroPercentNeverDrops) {
    add("net.drop@0%");
    EXPECT_EQ(egress(udp4, 10000), pass);
    auto c = obj_->counters(0);
    EXPECT_EQ(c.matched, 10000u);
    EXPECT_EQ(c.injected, 0u);
}

TEST_F(TestRun, PercentageIsWithinTheBinomialInterval) {
    // 10^5 independent draws at 10% and at 1%.
    add("net.drop@10%", 0);
    egress(udp4, 100000);
    expect_binomial(obj_->counters(0).injected, 100000, 0.10);
    obj_->set_index(target_->ref().id, FL_HOOK_EGRESS, {});
    index_.clear();
    add("net.drop@1%", 1);
    egress(udp4, 100000);
    expect_binomial(obj_->counters(1).injected, 100000, 0.01);
}

TEST_F(TestRun, ProtocolFilter) {
    add("net.drop@100%,proto=tcp");
    EXPECT_EQ(egress(udp4), pass);
    EXPECT_EQ(egress(udp6), pass);
    EXPECT_EQ(egress(tcp4), drop_egress);
    EXPECT_EQ(egress(tcp6), drop_egress);
    EXPECT_EQ(egress(PacketBuilder().v4("198.18.0.1", "198.18.0.2").icmp().build()), pass);
    EXPECT_EQ(obj_->counters(0).evaluated, 5u);
    EXPECT_EQ(obj_->counters(0).matched, 2u);
}

TEST_F(TestRun, IcmpFilter) {
    add("net.drop@100%,proto=icmp");
    EXPECT_EQ(egress(PacketBuilder().v4("198.18.0.1", "198.18.0.2").icmp().build()), drop_egress);
    EXPECT_EQ(egress(PacketBuilder().v6("2001:db8::1", "2001:db8::2").icmp().build()), drop_egress);
    EXPECT_EQ(egress(udp4), pass);
}

TEST_F(TestRun, RemotePortRangeOnEgressIsTheDestinationPort) {
    add("net.drop@100%,port=440-450");
    EXPECT_EQ(egress(tcp4), drop_egress); // dport 443
    EXPECT_EQ(egress(udp4), pass);        // dport 53
    // A port filter excludes port-less packets and non-first fragments.
    EXPECT_EQ(egress(PacketBuilder().v4("198.18.0.1", "198.18.0.2").icmp().build()), pass);
    EXPECT_EQ(egress(PacketBuilder().v4("198.18.0.1", "198.18.0.2").tcp(40000, 443).later_fragment().build()), pass);
}

TEST_F(TestRun, LocalPortOnIngressIsTheDestinationPort) {
    add("net.drop@100%,lport=8080,direction=ingress");
    EXPECT_EQ(ingress(PacketBuilder().v4("198.18.0.2", "198.18.0.1").tcp(443, 8080).build()), drop_ingress);
    EXPECT_EQ(ingress(PacketBuilder().v4("198.18.0.2", "198.18.0.1").tcp(8080, 443).build()), pass);
}

TEST_F(TestRun, CidrV4MatchesTheRemoteAddressPerDirection) {
    add("net.drop@100%,cidr=198.18.0.2/32,direction=both");
    EXPECT_EQ(egress(udp4), drop_egress); // to .2
    EXPECT_EQ(egress(PacketBuilder().v4("198.18.0.1", "198.18.0.3").udp(1, 2).build()), pass);
    // Ingress: the remote is the source.
    EXPECT_EQ(ingress(PacketBuilder().v4("198.18.0.2", "198.18.0.1").udp(53, 40000).build()), drop_ingress);
    EXPECT_EQ(ingress(PacketBuilder().v4("198.18.0.1", "198.18.0.2").udp(53, 40000).build()), pass);
    // A v4 CIDR never matches v6 packets.
    EXPECT_EQ(egress(udp6), pass);
}

TEST_F(TestRun, CidrV6) {
    add("net.drop@100%,cidr=2001:db8:1::/48");
    EXPECT_EQ(egress(tcp6), drop_egress); // to 2001:db8:1::2
    EXPECT_EQ(egress(udp6), pass);        // to 2001:db8::2
    EXPECT_EQ(egress(udp4), pass);
}

TEST_F(TestRun, DirectionEgressOnlyLeavesIngressAlone) {
    add("net.drop@100%");
    EXPECT_EQ(ingress(udp4), pass);
    EXPECT_EQ(obj_->counters(0).evaluated, 0u); // not even indexed at ingress
}

TEST_F(TestRun, ExpiredExperimentInjectsNothing) {
    // Deadlines are checked on the coarse clock (up to a jiffy behind): one
    // second in the past is past on any kernel.
    add("net.drop@100%", 0, nullptr, std::nullopt, -1'000'000'000);
    EXPECT_EQ(egress(udp4, 1000), pass);
    auto c = obj_->counters(0);
    EXPECT_EQ(c.injected, 0u);
    EXPECT_EQ(c.expired, 1000u);
}

TEST_F(TestRun, OtherCgroupsAreNotTouched) {
    add("net.drop@100%", 0, &other_->ref());
    EXPECT_EQ(egress(udp4, 1000), pass);
    EXPECT_EQ(obj_->counters(0).evaluated, 0u);
}

TEST_F(TestRun, DescendantsOfTheTargetAreTargeted) {
    add("net.drop@100%");
    ScratchCgroup child(target_->path(), "child");
    enter(child.path());
    EXPECT_EQ(egress(udp4), drop_egress);
    enter(target_->path());
}

TEST_F(TestRun, LimitCapsInjections) {
    add("net.drop@100%,limit=5");
    egress(udp4, 100);
    auto c = obj_->counters(0);
    EXPECT_EQ(c.matched, 100u);
    EXPECT_EQ(c.injected, 5u);
}

TEST_F(TestRun, SeedMakesDrawsReproducible) {
    // Same seed, fresh programs: the same injection count over the same
    // sequence; a different seed almost surely differs.
    auto count = [&](uint64_t seed) {
        obj_ = bpf::Object::load({bpf::Program::skb_egress});
        index_.clear();
        add("net.drop@30%", 0, nullptr, seed);
        egress(udp4, 20000);
        return obj_->counters(0).injected;
    };
    uint64_t a = count(42), b = count(42), c = count(43);
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    expect_binomial(a, 20000, 0.30);
}

TEST_F(TestRun, PerFlowSamplingIsStickyForOneSocket) {
    // All repetitions of one test run share one socket: per=flow decides
    // once for it (all or nothing); each test run has a new socket, so over
    // 40 runs at 50% both outcomes appear (all-equal odds: 2^-39).
    add("net.drop@50%,per=flow");
    int dropped_runs = 0;
    for (int i = 0; i < 40; i++) {
        auto before = obj_->counters(0).injected;
        egress(udp4, 100);
        auto injected = obj_->counters(0).injected - before;
        EXPECT_TRUE(injected == 0 || injected == 100) << injected;
        dropped_runs += injected == 100;
    }
    EXPECT_GT(dropped_runs, 0);
    EXPECT_LT(dropped_runs, 40);
}

TEST_F(TestRun, DelaySetsTheDepartureTime) {
    add("net.delay=10ms@100%");
    hold_on_lo();
    uint64_t before = monotonic_ns();
    auto r = obj_->test_run(bpf::Program::skb_egress, udp4);
    uint64_t after = monotonic_ns();
    EXPECT_EQ(r.retval, pass);
    EXPECT_GE(r.tstamp, before + 10'000'000);
    EXPECT_LE(r.tstamp, after + 10'000'000);
    // A TCP packet already paced into the future is delayed from there.
    uint64_t paced = monotonic_ns() + 5'000'000'000ull;
    r = obj_->test_run(bpf::Program::skb_egress, tcp4, 1, paced);
    EXPECT_EQ(r.tstamp, paced + 10'000'000);
}

TEST_F(TestRun, DelayJitterStaysInItsBounds) {
    add("net.delay=10ms@100%,jitter=4ms");
    hold_on_lo();
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < 300; i++) {
        uint64_t before = monotonic_ns();
        auto r = obj_->test_run(bpf::Program::skb_egress, udp4);
        uint64_t after = monotonic_ns();
        EXPECT_GE(r.tstamp, before + 6'000'000);
        EXPECT_LE(r.tstamp, after + 14'000'000);
        lo = std::min(lo, r.tstamp - before);
        hi = std::max(hi, r.tstamp - before);
    }
    // 300 uniform draws over 8 ms: the spread is far above 4 ms.
    EXPECT_GT(hi - lo, 4'000'000u);
}

// A delay is injected only on a packet that leaves by a device listed in
// fl_held (one whose root qdisc is an fq): by any other device it would not
// be held, and is counted as not held. The key is (namespace, ifindex): the
// same ifindex in another namespace is another device.
TEST_F(TestRun, DelayOnADeviceWithoutFqIsCountedAsNotHeldNotInjected) {
    add("net.delay=10ms@100%");
    const auto ns = static_cast<uint32_t>(netns_ino(""));
    obj_->add_held_device(ns + 1, 1); // loopback of some other namespace
    obj_->add_held_device(ns, 2);     // another device of ours
    auto r = obj_->test_run(bpf::Program::skb_egress, udp4);
    EXPECT_EQ(r.retval, pass);
    EXPECT_EQ(r.tstamp, 0u);
    auto c = obj_->counters(0);
    EXPECT_EQ(c.matched, 1u);
    EXPECT_EQ(c.injected, 0u);
    EXPECT_EQ(c.not_held, 1u);
    auto at = obj_->not_held_at(0);
    EXPECT_EQ(at.netns, ns);
    EXPECT_EQ(at.ifindex, 1u);
    hold_on_lo();
    r = obj_->test_run(bpf::Program::skb_egress, udp4);
    EXPECT_GT(r.tstamp, 0u);
    c = obj_->counters(0);
    EXPECT_EQ(c.injected, 1u);
    EXPECT_EQ(c.not_held, 1u);
}

// `faultline stop` sets a flag the loader never writes: a loader that then
// rewrites the experiment with a fresh deadline (its renewal, a ramp step
// read before the stop) cannot bring it back.
TEST_F(TestRun, StopIsFinalWhateverTheLoaderWritesAfterIt) {
    add("net.drop@100%");
    EXPECT_EQ(egress(udp4), drop_egress);
    fl_experiment e = obj_->experiment(0); // the loader's read, before the stop
    auto ids = obj_->map_ids();
    bpf::disable_experiment(ids.config, ids.stopped, 0);
    EXPECT_EQ(egress(udp4), pass);
    EXPECT_TRUE(obj_->stopped(0));
    e.expires = obj_->deadline_jiffies(monotonic_ns() + 60'000'000'000ull);
    obj_->set_experiment(0, e); // ... and its write, after it
    EXPECT_EQ(egress(udp4), pass);
    EXPECT_EQ(obj_->counters(0).injected, 1u);
}

TEST_F(TestRun, ZeroPercentDelayLeavesTstampAlone) {
    add("net.delay=10ms@0%");
    auto r = obj_->test_run(bpf::Program::skb_egress, udp4);
    EXPECT_EQ(r.tstamp, 0u);
}

TEST_F(TestRun, SeveralExperimentsOnOneTarget) {
    add("net.drop@100%,proto=tcp", 0);
    add("net.drop@100%,proto=udp,port=53", 1);
    EXPECT_EQ(egress(tcp4), drop_egress);
    EXPECT_EQ(egress(udp4), drop_egress);
    EXPECT_EQ(egress(PacketBuilder().v4("198.18.0.1", "198.18.0.2").udp(1, 54).build()), pass);
    EXPECT_EQ(obj_->counters(0).injected, 1u);
    EXPECT_EQ(obj_->counters(1).injected, 1u);
}

TEST_F(TestRun, UnfilteredAndFilteredExperimentsShareATarget) {
    // Slot 0 needs no headers, slot 1 does: the entry must parse them.
    add("net.drop@0%", 0);
    add("net.drop@100%,proto=tcp", 1);
    EXPECT_EQ(egress(udp4), pass);
    EXPECT_EQ(egress(tcp4), drop_egress);
    EXPECT_EQ(obj_->counters(0).matched, 2u);
    EXPECT_EQ(obj_->counters(1).matched, 1u);
}

TEST_F(TestRun, UnfilteredExperimentMatchesPacketsOfAnyProtocol) {
    add("net.drop@100%");
    EXPECT_EQ(egress(PacketBuilder().v4("198.18.0.1", "198.18.0.2").icmp().build()), drop_egress);
    EXPECT_EQ(egress(PacketBuilder().v6("2001:db8::1", "2001:db8::2").icmp().build()), drop_egress);
    EXPECT_EQ(obj_->counters(0).matched, 2u);
}

TEST_F(TestRun, ChangingAnExperimentsFiltersUpdatesItsIndexEntry) {
    // The entry is written while slot 0 has no filter (no header parsing);
    // rewriting slot 0 with a filter must make the fast path parse again.
    add("net.drop@100%");
    EXPECT_EQ(egress(udp4), drop_egress);
    fl_experiment e = make_experiment(parse_fault("net.drop@100%,proto=tcp"), target_->ref(), std::nullopt, 0);
    e.expires = obj_->deadline_jiffies(monotonic_ns() + 60'000'000'000);
    obj_->set_experiment(0, e);
    EXPECT_EQ(egress(udp4), pass);
    EXPECT_EQ(egress(tcp4), drop_egress);
}

TEST_F(TestRun, NestedTargetsAreBothEvaluated) {
    // The parent's experiment is found first (the inline fast path), the
    // child's by the path for deeper targets.
    ScratchCgroup child(target_->path(), "child");
    add("net.drop@0%", 0);
    add("net.drop@100%,proto=udp", 1, &child.ref());
    enter(child.path());
    EXPECT_EQ(egress(udp4), drop_egress);
    EXPECT_EQ(egress(tcp4), pass);
    enter(target_->path());
    EXPECT_EQ(egress(udp4), pass); // the parent alone: 0 %
    EXPECT_EQ(obj_->counters(0).evaluated, 3u);
    EXPECT_EQ(obj_->counters(1).evaluated, 2u);
    EXPECT_EQ(obj_->counters(1).injected, 1u);
}

TEST_F(TestRun, DeadlineIsNeverEarlyAndAtMostTwoTicksLate) {
    // Deadlines are jiffies (bpf_jiffies64): the tick is one of Kconfig's
    // HZ choices, and an experiment set to end at T stops at T at the
    // earliest and, by construction, two ticks after T at the latest; the
    // test allows 10 ms more for a late timer interrupt (under QEMU TCG ticks
    // are late by 1-4 ms).
    const uint64_t tick = obj_->tick_ns();
    EXPECT_TRUE(tick == 10'000'000 || tick == 4'000'000 || tick == 3'333'333 || tick == 1'000'000) << tick;
    const int64_t ttl = 100'000'000;
    const uint64_t before_add = monotonic_ns();
    add("net.drop@100%", 0, nullptr, std::nullopt, ttl);
    const uint64_t T = before_add + static_cast<uint64_t>(ttl); // add() read the clock after this
    const uint64_t latest = T + 2 * tick + 10'000'000;
    uint64_t first_pass = 0;
    while (monotonic_ns() < latest + 50'000'000) {
        uint64_t t0 = monotonic_ns();
        uint32_t r = egress(udp4);
        uint64_t t1 = monotonic_ns();
        if (r == pass) {
            ASSERT_GE(t1, T) << "expired " << (T - t1) / 1000 << " us early";
            first_pass = t0;
            break;
        }
        usleep(200);
    }
    ASSERT_NE(first_pass, 0u) << "still injecting " << (monotonic_ns() - T) / 1'000'000 << " ms after the deadline";
    EXPECT_LE(first_pass, latest) << "expired " << (first_pass - T) / 1000 << " us after the deadline";
    EXPECT_GE(obj_->counters(0).expired, 1u);
}

TEST_F(TestRun, ShadowCountsWhatWouldBeInjectedAndAppliesNothing) {
    for (const char* spec : {"net.drop@100%", "net.delay=10ms@100%"}) {
        SCOPED_TRACE(spec);
        add(spec, 0);
        fl_experiment e = obj_->experiment(0);
        e.flags |= FL_F_SHADOW;
        obj_->set_experiment(0, e);
        uint64_t before = obj_->counters(0).injected;
        auto r = obj_->test_run(bpf::Program::skb_egress, udp4, 100);
        EXPECT_EQ(r.retval, pass);
        EXPECT_EQ(r.tstamp, 0u); // not delayed, not even held
        EXPECT_EQ(obj_->counters(0).injected - before, 100u);
        obj_->set_index(target_->ref().id, FL_HOOK_EGRESS, {});
        index_.clear();
    }
}

// --- DNS ----------------------------------------------------------------

namespace {

// An answer from the resolver (port 53) to the target, as it reaches the
// target's socket: what dns.drop acts on.
std::vector<uint8_t> answer4(const std::vector<uint8_t>& msg, const std::string& server = "198.18.0.53",
                             uint16_t sport = 53) {
    return PacketBuilder().v4(server, "198.18.0.1").udp(sport, 40000).payload(msg).build();
}
std::vector<uint8_t> answer6(const std::vector<uint8_t>& msg) {
    return PacketBuilder().v6("2001:db8::53", "2001:db8::1").udp(53, 40000).payload(msg).build();
}
std::vector<uint8_t> answer(const std::string& name, uint16_t qtype = 1) {
    return DnsMessage().name(name).qtype(qtype).answer().build();
}

// What faultline's BPF parser must accept, written the plain way: an answer
// (QR) with opcode QUERY, one question whose name is labels of 1..63 bytes
// (no compression), at most 255 bytes with its root byte, followed by qtype
// and qclass.
bool reference_accepts(const std::vector<uint8_t>& m) {
    if (m.size() < 12 || !(m[2] & 0x80) || ((m[2] >> 3) & 0xf) || m[4] != 0 || m[5] != 1)
        return false;
    size_t i = 12;
    for (;;) {
        if (i >= m.size())
            return false;
        uint8_t l = m[i];
        if (l == 0)
            break;
        if (l > 63)
            return false;
        i += l + 1u;
    }
    size_t name_len = i - 12 + 1;
    return name_len <= 255 && i + 4 < m.size();
}

} // namespace

TEST_F(TestRun, DnsDropMatchesTheQueriedNameCaseInsensitivelyExactOrStrictlyUnder) {
    add("dns.drop@100%,domain=api.example.com,domain=*.svc.test");
    EXPECT_EQ(ingress(answer4(answer("api.example.com"))), drop_ingress);
    EXPECT_EQ(ingress(answer4(answer("API.Example.COM"))), drop_ingress);
    EXPECT_EQ(ingress(answer6(answer("api.example.com"))), drop_ingress);
    EXPECT_EQ(ingress(answer4(answer("www.example.com"))), pass);
    EXPECT_EQ(ingress(answer4(answer("x.api.example.com"))), pass); // an exact name is exact
    EXPECT_EQ(ingress(answer4(answer("db.svc.test"))), drop_ingress);
    EXPECT_EQ(ingress(answer4(answer("a.b.c.d.e.f.g.h.i.j.db.svc.test"))), drop_ingress); // 13 labels
    EXPECT_EQ(ingress(answer4(answer("svc.test"))), pass);                                // *.x: strictly under x
    EXPECT_EQ(ingress(answer4(answer("xsvc.test"))), pass); // label boundaries, not strings
    EXPECT_EQ(ingress(answer4(answer("svc.test.evil"))), pass);
    // Queries (QR clear) on ingress and answers on egress are not answers to
    // the target's queries.
    EXPECT_EQ(ingress(answer4(DnsMessage().name("db.svc.test").build())), pass);
    EXPECT_EQ(egress(answer4(answer("db.svc.test"))), pass);
    auto c = obj_->counters(0);
    EXPECT_EQ(c.evaluated, 11u); // every ingress packet of the target
    EXPECT_EQ(c.matched, 5u);
    EXPECT_EQ(c.injected, 5u);
}

TEST_F(TestRun, DnsDropFiltersOnQtypeServerAndPort) {
    add("dns.drop@100%,qtype=AAAA");
    EXPECT_EQ(ingress(answer4(answer("example.com", 1))), pass);
    EXPECT_EQ(ingress(answer4(answer("example.com", 28))), drop_ingress);
    EXPECT_EQ(ingress(answer4(answer("example.com", 28), "198.18.0.53", 5353)), pass); // not port 53
    obj_->set_index(target_->ref().id, FL_HOOK_INGRESS, {});
    index_.clear();
    add("dns.drop@100%,server=198.18.0.53,port=5353", 1);
    EXPECT_EQ(ingress(answer4(answer("example.com"), "198.18.0.53", 5353)), drop_ingress);
    EXPECT_EQ(ingress(answer4(answer("example.com"), "198.18.0.54", 5353)), pass);
    EXPECT_EQ(ingress(answer4(answer("example.com"), "198.18.0.53", 53)), pass);
    EXPECT_EQ(ingress(answer6(answer("example.com"))), pass); // v6 server, v4 filter
}

TEST_F(TestRun, DnsPerNameSamplingIsStickyPerName) {
    // At 50 %, each of 200 names is either always or never dropped, over 20
    // answers each; about half of them are (binomial check on 200 names).
    add("dns.drop@50%,per=name");
    uint64_t dropped_names = 0;
    for (int n = 0; n < 200; n++) {
        std::string name = "host" + std::to_string(n) + ".example.com";
        int drops = 0;
        for (int i = 0; i < 20; i++)
            drops +=
                ingress(answer4(answer(i % 2 ? name : "HOST" + std::to_string(n) + ".Example.com"))) == drop_ingress;
        ASSERT_TRUE(drops == 0 || drops == 20) << name << ": " << drops << " of 20";
        dropped_names += drops == 20;
    }
    expect_binomial(dropped_names, 200, 0.5);
}

TEST_F(TestRun, MalformedDnsPassesUntouched) {
    // dns.drop@100% with no filter drops every well-formed answer, so each
    // of these passes only because the parser refused it.
    add("dns.drop@100%");
    auto name63 = std::string(63, 'a');
    std::string n255 = name63 + "." + name63 + "." + name63 + "." + std::string(61, 'b'); // 255 bytes on the wire
    std::string n256 = name63 + "." + name63 + "." + name63 + "." + std::string(62, 'b');
    ASSERT_EQ(ingress(answer4(answer(n255))), drop_ingress) << "the longest legal name is DNS";
    struct Case {
        const char* what;
        std::vector<uint8_t> msg;
    };
    const auto full = answer("a.example");
    const std::vector<uint8_t> head_only(full.begin(), full.begin() + 12);
    auto cut = [](std::vector<uint8_t> m, size_t n) {
        m.resize(n);
        return m;
    };
    std::vector<Case> cases = {
        {"empty payload", {}},
        {"truncated header", {0x12, 0x34, 0x81, 0x80, 0, 1}},
        {"header, no question", head_only},
        {"name runs past the packet", cut(DnsMessage().raw_name({10, 'a', 'b'}).answer().build(), 15)},
        {"compression pointer in the question", DnsMessage().raw_name({0xc0, 12}).answer().build()},
        {"pointer after a label (a loop back to it)", DnsMessage().raw_name({1, 'a', 0xc0, 12}).answer().build()},
        {"label type 01", DnsMessage().raw_name({0x40, 'a', 0}).answer().build()},
        {"name over 255 bytes", answer(n256)},
        {"260 one-byte labels",
         [] {
             std::vector<uint8_t> w;
             for (int i = 0; i < 130; i++)
                 w.insert(w.end(), {1, 'x'});
             w.push_back(0);
             return DnsMessage().raw_name(w).answer().build();
         }()},
        {"qdcount 0", DnsMessage().name("a.example").qdcount(0).answer().build()},
        {"qdcount 2", DnsMessage().name("a.example").qdcount(2).answer().build()},
        {"opcode STATUS", DnsMessage().name("a.example").opcode(2).answer().build()},
        {"no qtype/qclass",
         [] {
             auto m = DnsMessage().name("a.example").build();
             m.resize(12 + 11);
             m[2] |= 0x80;
             return m;
         }()},
        {"all ones", std::vector<uint8_t>(64, 0xff)},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        ASSERT_FALSE(reference_accepts(c.msg)) << "the case itself is well-formed";
        EXPECT_EQ(ingress(answer4(c.msg)), pass);
        EXPECT_EQ(ingress(PacketBuilder().v6("2001:db8::53", "2001:db8::1").udp(53, 40000).payload(c.msg).build()),
                  pass);
    }
    EXPECT_EQ(obj_->counters(0).injected, 1u); // the 255-byte name only
}

TEST_F(TestRun, DnsParserAgreesWithAReferenceOnMutatedAnswers) {
    // 3000 answers with random bytes overwritten, truncated or extended
    // (fixed seed): the program drops exactly those the plain C++ parser
    // above accepts, so no malformed answer is ever acted on and no
    // well-formed one is missed.
    add("dns.drop@100%");
    std::mt19937 rng(20261126);
    const auto base = answer("www.Example.com", 28);
    int accepted = 0;
    for (int i = 0; i < 3000; i++) {
        auto m = base;
        int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits; e++) {
            switch (rng() % 4) {
            case 0:
                m[rng() % m.size()] = static_cast<uint8_t>(rng());
                break;
            case 1: // a plausible label length somewhere in the name
                m[12 + rng() % 17] = static_cast<uint8_t>(rng() % 70);
                break;
            case 2:
                m.resize(rng() % (m.size() + 1));
                break;
            default:
                m.resize(m.size() + rng() % 300, static_cast<uint8_t>(rng() % 64));
                break;
            }
            if (m.empty())
                break;
        }
        bool ok = reference_accepts(m);
        accepted += ok;
        ASSERT_EQ(ingress(answer4(m)), ok ? drop_ingress : pass) << "mutation " << i;
    }
    EXPECT_GT(accepted, 100); // both sides of the line were exercised
    EXPECT_LT(accepted, 2900);
}

// The DNS scratch is indexed by nesting level (a softirq's program can run
// in the middle of a process-context one on the same CPU): with level 0
// taken by an "interrupted" parse, a question is parsed into entry 1, entry
// 0 is left byte for byte as it was, and the level is given back. With every
// level taken, nothing is parsed, so nothing matches.
TEST_F(TestRun, DnsScratchOfAnInterruptedParseIsNeverOverwritten) {
    add("dns.drop@100%,domain=api.example.com");
    const int nest = obj_->map_fd("fl_dns_nest"), scratch = obj_->map_fd("fl_dns_scratch");
    ASSERT_GE(nest, 0);
    ASSERT_GE(scratch, 0);
    const auto ncpu = static_cast<size_t>(libbpf_num_possible_cpus());
    bpf_map_info info{};
    uint32_t len = sizeof info;
    ASSERT_EQ(bpf_obj_get_info_by_fd(scratch, &info, &len), 0);
    const size_t vsz = (info.value_size + 7) / 8 * 8; // per-CPU values are 8-byte aligned
    auto set_nest = [&](uint64_t level) {
        std::vector<uint64_t> v(ncpu, level);
        const uint32_t zero = 0;
        ASSERT_EQ(bpf_map_update_elem(nest, &zero, v.data(), BPF_ANY), 0);
    };
    auto nest_levels = [&] {
        std::vector<uint64_t> v(ncpu);
        const uint32_t zero = 0;
        EXPECT_EQ(bpf_map_lookup_elem(nest, &zero, v.data()), 0);
        return std::set<uint64_t>(v.begin(), v.end());
    };
    std::vector<uint8_t> interrupted(vsz * ncpu, 0xab), got(vsz * ncpu);
    const uint32_t level0 = 0;
    ASSERT_EQ(bpf_map_update_elem(scratch, &level0, interrupted.data(), BPF_ANY), 0);
    set_nest(1);
    EXPECT_EQ(ingress(answer4(answer("api.example.com"))), drop_ingress);
    EXPECT_EQ(ingress(answer4(answer("www.example.com"))), pass);
    ASSERT_EQ(bpf_map_lookup_elem(scratch, &level0, got.data()), 0);
    EXPECT_TRUE(got == interrupted) << "a nested parse wrote the interrupted one's scratch";
    EXPECT_EQ(nest_levels(), std::set<uint64_t>{1});
    set_nest(4); // FL_DNS_NEST: every level taken
    EXPECT_EQ(ingress(answer4(answer("api.example.com"))), pass);
    EXPECT_EQ(nest_levels(), std::set<uint64_t>{4});
    set_nest(0);
    EXPECT_EQ(ingress(answer4(answer("api.example.com"))), drop_ingress);
    EXPECT_EQ(nest_levels(), std::set<uint64_t>{0}); // given back on the drop path too
    EXPECT_EQ(obj_->counters(0).injected, 2u);
}

TEST_F(TestRun, DnsDelayHoldsMatchingQueriesOnly) {
    add("dns.delay=200ms@100%,domain=*.svc.test");
    hold_on_lo();
    auto query = [](const std::string& name) {
        return PacketBuilder()
            .v4("198.18.0.1", "198.18.0.53")
            .udp(40000, 53)
            .payload(DnsMessage().name(name).build())
            .build();
    };
    uint64_t before = monotonic_ns();
    auto r = obj_->test_run(bpf::Program::skb_egress, query("db.svc.test"));
    uint64_t after = monotonic_ns();
    EXPECT_EQ(r.retval, pass);
    EXPECT_GE(r.tstamp, before + 200'000'000);
    EXPECT_LE(r.tstamp, after + 200'000'000);
    EXPECT_EQ(obj_->test_run(bpf::Program::skb_egress, query("www.other.test")).tstamp, 0u);
    // An answer leaving the target (a DNS server in it) is not its query.
    EXPECT_EQ(obj_->test_run(bpf::Program::skb_egress, answer4(answer("db.svc.test"))).tstamp, 0u);
    EXPECT_EQ(ingress(answer4(answer("db.svc.test"))), pass); // no ingress part
    auto c = obj_->counters(0);
    EXPECT_EQ(c.matched, 1u);
    EXPECT_EQ(c.injected, 1u);
}

// --- DNS error answers: egress picks the query, tc rewrites its answer ---

namespace {

constexpr uint32_t tc_next = static_cast<uint32_t>(-1);

struct Exchange {
    std::vector<uint8_t> query, answer;
    size_t msg; // offset of the DNS message in the answer packet
};

Exchange exchange(const std::string& name, bool v6, bool tcp, uint16_t qtype = 1, bool records = true,
                  uint16_t id = 0x1234) {
    auto q = DnsMessage().name(name).qtype(qtype).id(id).build();
    auto a = DnsMessage().name(name).qtype(qtype).id(id).answer().no_records().build();
    if (records)
        a = DnsMessage().name(name).qtype(qtype).id(id).answer().build();
    // (the query's checksum is not read: filled in all the same)
    return {dns_packet(q, v6, tcp, true), dns_packet(a, v6, tcp, false), dns_msg_offset(v6, tcp)};
}

} // namespace

class RcodeRun : public TestRun {
  protected:
    void SetUp() override {
        TestRun::SetUp();
        if (!obj_)
            return;
        REQUIRE_FAULT("dns.nxdomain"); // and the tc ingress program
        obj_ = bpf::Object::load({bpf::Program::skb_egress, bpf::Program::skb_ingress, bpf::Program::tc_ingress});
        obj_->set_answer_wait(30'000'000'000ull);
        receive_in(true);
    }
    void TearDown() override {
        for (int fd : receivers_)
            close(fd);
        TestRun::TearDown();
    }
    bpf::TestRun tc(const std::vector<uint8_t>& pkt) { return obj_->test_run(bpf::Program::tc_ingress, pkt); }

    // An answer is rewritten only if the socket it is delivered to is one
    // the target's query left from (the egress program marks it). A test
    // run's query comes from a dummy socket, so the client's sockets of
    // exchange() (UDP and TCP (a listener), v4 and v6) are marked here as
    // the egress program marks a real one, with the target's cgroup id, or
    // left unmarked (mark = false: another cgroup's sockets).
    void receive_in(bool mark) {
        for (int fd : receivers_)
            close(fd);
        receivers_.clear();
        for (bool v6 : {false, true})
            for (bool tcp : {false, true}) {
                int fd = dns_client_socket(v6, tcp);
                ASSERT_GE(fd, 0) << strerror(errno);
                receivers_.push_back(fd);
                const uint64_t cg = target_->ref().id;
                if (mark)
                    ASSERT_EQ(bpf_map_update_elem(obj_->map_fd("fl_dns_sk"), &fd, &cg, BPF_ANY), 0) << strerror(errno);
            }
    }
    std::vector<int> receivers_;
};

// The receiving socket is not one the target queried from (SO_REUSEPORT
// groups and connected sockets can share the target's address and port
// across cgroups): its answer is never rewritten, over UDP or TCP, v4 or v6,
// and nothing counts as injected.
TEST_F(RcodeRun, AnAnswerDeliveredToAnotherSocketIsLeftAlone) {
    add("dns.nxdomain@100%,domain=*.svc.test");
    receive_in(false);
    for (bool v6 : {false, true})
        for (bool tcp : {false, true}) {
            SCOPED_TRACE(fmt::format("v6 {} tcp {}", v6, tcp));
            auto x = exchange("db.svc.test", v6, tcp);
            EXPECT_EQ(egress(x.query), pass);
            EXPECT_EQ(tc(x.answer).packet, x.answer);
        }
    EXPECT_EQ(obj_->counters(0).injected, 0u);
    receive_in(true); // the same exchanges, to sockets the target queried from: rewritten
    for (bool v6 : {false, true})
        for (bool tcp : {false, true}) {
            auto x = exchange("db.svc.test", v6, tcp);
            EXPECT_EQ(egress(x.query), pass);
            EXPECT_NE(tc(x.answer).packet, x.answer);
        }
    EXPECT_EQ(obj_->counters(0).injected, 4u);
}

TEST_F(RcodeRun, TheAnswerToAnInjectedQueryBecomesAWellFormedErrorAnswer) {
    add("dns.nxdomain@100%,domain=*.svc.test");
    // Odd and even question lengths (the filler record at an odd or even
    // offset), records or none, IPv4 and IPv6, UDP and TCP.
    struct Case {
        std::string name;
        bool v6, tcp, records;
    };
    for (const Case& c : {Case{"db.svc.test", false, false, true}, Case{"abc.svc.test", false, false, true},
                          Case{"db.svc.test", true, false, true}, Case{"abc.svc.test", true, true, true},
                          Case{"db.svc.test", false, true, true}, Case{"db.svc.test", false, false, false}}) {
        SCOPED_TRACE(c.name + (c.v6 ? " v6" : " v4") + (c.tcp ? " tcp" : " udp") + (c.records ? "" : " no records"));
        auto x = exchange(c.name, c.v6, c.tcp, 1, c.records);
        ASSERT_EQ(PacketBuilder::l4_sum(x.answer), 0xffff);
        uint64_t before = obj_->counters(0).injected;
        EXPECT_EQ(egress(x.query), pass); // the query leaves untouched
        EXPECT_EQ(obj_->counters(0).injected, before) << "counted where the answer is rewritten, not here";
        auto r = tc(x.answer);
        EXPECT_EQ(r.retval, tc_next);
        ASSERT_EQ(r.packet.size(), x.answer.size()) << "rewritten in place";
        const uint8_t* m = r.packet.data() + x.msg;
        const uint8_t* o = x.answer.data() + x.msg;
        EXPECT_EQ(m[0], 0x12); // the query's id
        EXPECT_EQ(m[1], 0x34);
        EXPECT_EQ(m[2], 0x81);     // QR, opcode QUERY, RD
        EXPECT_EQ(m[3], 0x80 | 3); // RA, NXDOMAIN
        EXPECT_EQ(m[5], 1);        // one question ...
        EXPECT_EQ(m[7] | m[9], 0); // no answer, no authority
        size_t qlen = c.name.size() + 2 + 4;
        EXPECT_EQ(std::memcmp(m + 12, o + 12, qlen), 0) << "... the question asked";
        size_t rr = 12 + qlen, left = x.answer.size() - x.msg - rr;
        if (c.records) {
            EXPECT_EQ(m[11], 1); // the filler record covers the original records
            const std::vector<uint8_t> filler = {
                0, 0xff, 0, 0, 1, 0, 0, 0, 0, static_cast<uint8_t>((left - 11) >> 8), static_cast<uint8_t>(left - 11)};
            EXPECT_EQ(std::vector<uint8_t>(m + rr, m + rr + 11), filler);
        } else {
            EXPECT_EQ(m[11], 0);
        }
        EXPECT_EQ(PacketBuilder::l4_sum(r.packet), 0xffff) << "checksum fixed";
        EXPECT_EQ(obj_->counters(0).injected, before + 1);
        // One answer per query: a second copy passes as it is.
        EXPECT_EQ(tc(x.answer).packet, x.answer);
    }
}

TEST_F(RcodeRun, OnlyAnswersToInjectedQueriesOfLiveExperimentsAreRewritten) {
    add("dns.servfail@100%,domain=db.svc.test");
    auto x = exchange("db.svc.test", false, false);
    auto other = exchange("www.other.test", false, false);
    // No query seen: nothing pending, nothing rewritten.
    EXPECT_EQ(tc(x.answer).packet, x.answer);
    // A query for another name: not picked.
    EXPECT_EQ(egress(other.query), pass);
    EXPECT_EQ(tc(other.answer).packet, other.answer);
    // The picked query, but an answer with another id (not its answer).
    EXPECT_EQ(egress(x.query), pass);
    auto wrong_id = exchange("db.svc.test", false, false, 1, true, 0x4321);
    EXPECT_EQ(tc(wrong_id.answer).packet, wrong_id.answer);
    // An answer for another question under the same id and ports: another
    // type, or another name of the same length (case aside: 0x20 mixing).
    auto aaaa = exchange("db.svc.test", false, false, 28);
    EXPECT_EQ(tc(aaaa.answer).packet, aaaa.answer);
    auto dc = exchange("dc.svc.test", false, false);
    EXPECT_EQ(tc(dc.answer).packet, dc.answer);
    // A message under its id and question that is not a QUERY's answer
    // (opcode NOTIFY): left alone, and the exchange stays pending.
    auto notify = x.answer;
    notify[x.msg + 2] |= 4 << 3;
    EXPECT_EQ(tc(notify).packet, notify);
    auto upper = exchange("DB.svc.TEST", false, false);
    EXPECT_NE(tc(upper.answer).packet, upper.answer) << "the same name, its case mixed";
    EXPECT_EQ(obj_->counters(0).injected, 1u);
    // `faultline stop` (the deadline set to 0) ends a pending rewrite too.
    EXPECT_EQ(egress(x.query), pass);
    fl_experiment e = obj_->experiment(0);
    e.expires = 0;
    obj_->set_experiment(0, e);
    EXPECT_EQ(tc(x.answer).packet, x.answer);
    EXPECT_EQ(obj_->counters(0).injected, 1u);
}

TEST_F(RcodeRun, EachRcodeAndIpv4UdpWithoutChecksumKeepsNone) {
    for (auto [spec, rcode] : {std::pair{"dns.servfail@100%", 2}, std::pair{"dns.refused@100%", 5}}) {
        SCOPED_TRACE(spec);
        add(spec);
        auto x = exchange("db.svc.test", false, false);
        EXPECT_EQ(egress(x.query), pass);
        auto r = tc(x.answer);
        EXPECT_EQ(r.packet[x.msg + 3], 0x80 | rcode);
        EXPECT_EQ(PacketBuilder::l4_sum(r.packet), 0xffff);
        // IPv4 UDP may carry no checksum (0): it stays 0.
        auto y = x.answer;
        y[14 + 20 + 6] = y[14 + 20 + 7] = 0;
        EXPECT_EQ(egress(x.query), pass);
        r = tc(y);
        EXPECT_EQ(r.packet[x.msg + 3], 0x80 | rcode);
        EXPECT_EQ(r.packet[14 + 20 + 6] | r.packet[14 + 20 + 7], 0);
    }
}
