// SPDX-License-Identifier: Apache-2.0
// End to end on the machine's kernel, as root: the real faultline binary,
// real UDP and TCP traffic between two network namespaces (198.18.0.0/15),
// a target cgroup and a sibling cgroup running the same traffic.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "../support/integration.hpp"
#include "../support/lab.hpp"
#include "../support/stats.hpp"
#include "faultline/cgroup.hpp"
#include "faultline/probe.hpp"
#include "faultline/session.hpp"
#include "faultline/spec.hpp"

using namespace faultline;
using namespace faultline::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::map<std::string, uint64_t> parse_counts(const std::string& out) {
    std::map<std::string, uint64_t> m;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream l(line);
        std::string k, k2;
        uint64_t v;
        if (line.rfind("tag ", 0) == 0) {
            l >> k >> k2 >> v;
            m["tag" + k2] = v;
        } else if (l >> k >> v) {
            m[k] = v;
        }
    }
    return m;
}

class Net : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0)
            GTEST_SKIP() << "needs root (network namespaces, cgroups, BPF)";
        before_ = faultline_objects();
        lab_ = std::make_unique<NetLab>();
        ASSERT_TRUE(lab_->ok()) << "could not build the veth lab";
        root_ = cgroup2_mount();
        target_ = std::make_unique<ScratchCgroup>(root_, "faultline-it-target-" + std::to_string(getpid()));
        sibling_ = std::make_unique<ScratchCgroup>(root_, "faultline-it-sibling-" + std::to_string(getpid()));
        stats_ = "/tmp/faultline-it-stats-" + std::to_string(getpid()) + ".json";
        ready_ = faultline_objects();
    }
    void TearDown() override {
        target_.reset();
        sibling_.reset();
        lab_.reset();
        std::remove(stats_.c_str());
        if (geteuid() == 0)
            EXPECT_EQ(new_leftovers(before_), "") << "left behind";
    }

    // faultline inject in the background, ready once its session is up.
    std::unique_ptr<Proc> inject(const std::string& fault, const std::string& extra = {}) {
        std::vector<std::string> argv = {fl,    "inject",  "--cgroup",     target_->path(), "--fault",
                                         fault, "--quiet", "--stats-json", stats_};
        if (!extra.empty())
            argv.push_back(extra);
        auto p = std::make_unique<Proc>(argv, "", true);
        EXPECT_TRUE(p->wait_for("session", 10s)) << p->out();
        return p;
    }

    // Receives until 1.5 s pass without a datagram, or max_ms in all (the
    // bound for runs where every datagram is expected to be dropped).
    std::unique_ptr<Proc> receiver(const std::string& cgroup = {}, int max_ms = 60000) {
        auto r = std::make_unique<Proc>(
            lab_->in(lab_->b, {traffic, "udp-recv", "9000", "1500", std::to_string(max_ms)}), cgroup);
        EXPECT_TRUE(r->wait_for("ready", 5s));
        return r;
    }

    std::vector<std::string> send_udp(long n, int tag, long pps = 40000) {
        return lab_->in(lab_->a, {traffic, "udp-send", "198.18.0.2", "9000", std::to_string(n), std::to_string(tag),
                                  std::to_string(pps)});
    }

    std::unique_ptr<NetLab> lab_;
    std::string root_, stats_;
    std::set<std::string> before_; // before SetUp: checked in TearDown
    std::set<std::string> ready_;  // after SetUp: checked within a test
    std::unique_ptr<ScratchCgroup> target_, sibling_;
};

} // namespace

TEST_F(Net, ExecDropsOnePercentOfTheTargetsUdpAndNoneOfTheSiblings) {
    REQUIRE_FAULT("net.drop");
    // 10^5 datagrams from each cgroup to one receiver, concurrently.
    constexpr long n = 100000;
    auto rx = receiver();
    std::vector<std::string> argv = {fl,     "exec",    "--fault", "net.drop@1%,proto=udp", "--stats-json",
                                     stats_, "--quiet", "--"};
    for (auto& a : send_udp(n, 1))
        argv.push_back(a);
    Proc target(argv);
    Proc sibling(send_udp(n, 2), sibling_->path());
    ASSERT_EQ(target.wait(), 0) << target.out();
    ASSERT_EQ(sibling.wait(), 0);
    ASSERT_EQ(rx->wait(), 0);
    auto got = parse_counts(rx->out());
    auto sent = parse_counts(target.out());
    auto ex = read_json(stats_)["experiments"][0];
    uint64_t injected = ex["injected"], matched = ex["matched"];

    EXPECT_EQ(sent["sent"], static_cast<uint64_t>(n)); // egress drop is silent for UDP
    EXPECT_EQ(matched, static_cast<uint64_t>(n));
    expect_binomial(injected, matched, 0.01);
    // Every datagram the receiver missed is one faultline counted, and back.
    EXPECT_EQ(got["tag1"] + injected, static_cast<uint64_t>(n));
    // The sibling runs the same traffic and loses nothing.
    EXPECT_EQ(got["tag2"], static_cast<uint64_t>(n));
}

TEST_F(Net, InjectDropsIngressOfAnExistingCgroupOnly) {
    REQUIRE_FAULT("net.drop");
    // The receiver is the target: its incoming UDP is dropped.
    auto fi = inject("net.drop@100%,proto=udp,direction=ingress");
    auto rx = receiver(target_->path(), 3000);
    Proc tx(send_udp(2000, 1, 20000), sibling_->path());
    ASSERT_EQ(tx.wait(), 0);
    ASSERT_EQ(rx->wait(), 0);
    EXPECT_EQ(parse_counts(rx->out())["tag1"], 0u);
    kill(fi->pid(), SIGTERM);
    ASSERT_EQ(fi->wait(10s), 0) << fi->out();
    auto ex = read_json(stats_)["experiments"][0];
    EXPECT_EQ(ex["injected"].get<uint64_t>(), 2000u);

    // The same traffic to a receiver outside the target arrives whole.
    auto rx2 = receiver(sibling_->path());
    Proc tx2(send_udp(2000, 1, 20000), sibling_->path());
    ASSERT_EQ(tx2.wait(), 0);
    ASSERT_EQ(rx2->wait(), 0);
    EXPECT_EQ(parse_counts(rx2->out())["tag1"], 2000u);
}

TEST_F(Net, ConnectFailsWithTheChosenErrno) {
    REQUIRE_FAULT("net.connect");
    Proc listener(lab_->in(lab_->b, {traffic, "tcp-listen", "9100", "60000"}));
    ASSERT_TRUE(listener.wait_for("ready", 5s));
    for (const std::string err : {"ECONNREFUSED", "ETIMEDOUT", "ENETUNREACH"}) {
        Proc p({fl, "exec", "--quiet", "--fault", "net.connect=" + err + "@100%,cidr=198.18.0.0/15", "--", "ip",
                "netns", "exec", lab_->a, traffic, "tcp-connect", "198.18.0.2", "9100", "200"});
        ASSERT_EQ(p.wait(), 0);
        auto r = parse_counts(p.out());
        EXPECT_EQ(r[err], 200u) << p.out();
        EXPECT_EQ(r["ok"], 0u) << p.out();
    }
    // Same connects from the sibling: all succeed.
    Proc s(lab_->in(lab_->a, {traffic, "tcp-connect", "198.18.0.2", "9100", "200"}), sibling_->path());
    ASSERT_EQ(s.wait(), 0);
    EXPECT_EQ(parse_counts(s.out())["ok"], 200u) << s.out();
}

TEST_F(Net, ConnectFailureRateAndFilters) {
    REQUIRE_FAULT("net.connect");
    Proc listener(lab_->in(lab_->b, {traffic, "tcp-listen", "9100", "60000"}));
    ASSERT_TRUE(listener.wait_for("ready", 5s));
    // 3000 connects at 10%: the application's own count of ECONNREFUSED is
    // faultline's injected count, inside the binomial interval.
    Proc p({fl, "exec", "--quiet", "--stats-json", stats_, "--fault", "net.connect=ECONNREFUSED@10%,port=9100", "--",
            "ip", "netns", "exec", lab_->a, traffic, "tcp-connect", "198.18.0.2", "9100", "3000"});
    ASSERT_EQ(p.wait(), 0);
    auto r = parse_counts(p.out());
    auto ex = read_json(stats_)["experiments"][0];
    EXPECT_EQ(r["ECONNREFUSED"], ex["injected"].get<uint64_t>());
    EXPECT_EQ(r["ECONNREFUSED"] + r["ok"], 3000u) << p.out();
    expect_binomial(r["ECONNREFUSED"], 3000, 0.10);

    // Filters that do not match this destination: nothing fails.
    for (const std::string f :
         {"net.connect=ECONNREFUSED@100%,cidr=198.19.0.0/16", "net.connect=ECONNREFUSED@100%,port=1-9099",
          "net.connect=ECONNREFUSED@100%,proto=udp"}) {
        Proc q({fl, "exec", "--quiet", "--fault", f, "--", "ip", "netns", "exec", lab_->a, traffic, "tcp-connect",
                "198.18.0.2", "9100", "50"});
        ASSERT_EQ(q.wait(), 0);
        EXPECT_EQ(parse_counts(q.out())["ok"], 50u) << f << ": " << q.out();
    }
}

TEST_F(Net, KilledLoaderLeavesNoFaultBehind) {
    REQUIRE_FAULT("net.drop");
    auto fi = inject("net.drop@100%,proto=udp");
    {
        auto rx = receiver({}, 3000);
        Proc tx(send_udp(500, 1, 20000), target_->path());
        ASSERT_EQ(tx.wait(), 0);
        ASSERT_EQ(rx->wait(), 0);
        ASSERT_EQ(parse_counts(rx->out())["tag1"], 0u) << "the fault was not active";
    }
    kill(fi->pid(), SIGKILL);
    fi->wait(5s);
    auto rx = receiver();
    Proc tx(send_udp(1000, 1, 20000), target_->path());
    ASSERT_EQ(tx.wait(), 0);
    ASSERT_EQ(rx->wait(), 0);
    EXPECT_EQ(parse_counts(rx->out())["tag1"], 1000u);
    // The next faultline command removes the dead session's record.
    EXPECT_EQ(sh(fl + " status").status, 0);
}

TEST_F(Net, StuckLoaderLosesItsFaultsAtTheKernelDeadline) {
    REQUIRE_FAULT("net.drop");
    // SIGSTOP keeps the programs attached (the process lives) but stops the
    // lease renewal: the in-kernel deadline (3 s lease) ends the fault.
    auto fi = inject("net.drop@100%,proto=udp");
    kill(fi->pid(), SIGSTOP);
    {
        auto rx = receiver({}, 2000);
        Proc tx(send_udp(200, 1, 20000), target_->path());
        ASSERT_EQ(tx.wait(), 0);
        ASSERT_EQ(rx->wait(), 0);
        ASSERT_EQ(parse_counts(rx->out())["tag1"], 0u) << "the fault was not active while stopped";
    }
    std::this_thread::sleep_for(3500ms);
    auto rx = receiver();
    Proc tx(send_udp(1000, 1, 20000), target_->path());
    ASSERT_EQ(tx.wait(), 0);
    ASSERT_EQ(rx->wait(), 0);
    EXPECT_EQ(parse_counts(rx->out())["tag1"], 1000u);
    kill(fi->pid(), SIGCONT);
    kill(fi->pid(), SIGTERM);
    EXPECT_EQ(fi->wait(10s), 0);
    auto ex = read_json(stats_)["experiments"][0];
    EXPECT_GE(ex["expired"].get<uint64_t>(), 1000u); // seen after the deadline, not injected
}

TEST_F(Net, DurationEndsTheSession) {
    REQUIRE_FAULT("net.drop");
    // The deadline counts from the attach, which lies between t0 and the
    // "session" line: not before t0 + 1.5 s, and soon after the line +
    // 1.5 s (detach and --stats-json; the start-up, which a CI run under
    // TCG with two VMs stretched to over 4 s, is left out of the bound).
    auto t0 = std::chrono::steady_clock::now();
    auto fi = inject("net.drop@100%", "--for=1500ms");
    auto attached = std::chrono::steady_clock::now();
    EXPECT_EQ(fi->wait(20s), 0) << fi->out();
    auto end = std::chrono::steady_clock::now();
    EXPECT_GE(end - t0, 1500ms);
    EXPECT_LT(end - attached, 1500ms + 4s);
}

TEST_F(Net, StatusShowsLiveCountersAndStopEndsTheSession) {
    REQUIRE_FAULT("net.drop");
    auto fi = inject("net.drop@50%,proto=udp");
    {
        auto rx = receiver();
        Proc tx(send_udp(1000, 1, 20000), target_->path());
        ASSERT_EQ(tx.wait(), 0);
        rx->wait();
    }
    auto st = sh(fl + " status --json");
    ASSERT_EQ(st.status, 0);
    auto j = json::parse(st.out);
    ASSERT_EQ(j.size(), 1u) << st.out;
    EXPECT_EQ(j[0]["cgroup"], target_->path());
    auto ex = j[0]["experiments"][0];
    EXPECT_EQ(ex["spec"], "net.drop@50%,proto=udp");
    EXPECT_EQ(ex["matched"].get<uint64_t>(), 1000u);
    expect_binomial(ex["injected"].get<uint64_t>(), 1000, 0.5);

    // An id that is not a session's (or not an id at all) stops nothing.
    const std::string id = j[0]["session"].get<std::string>();
    for (std::string other : {std::string("00000000"), std::string("../") + id, id + "x"}) {
        auto o = sh(fl + " stop '" + other + "' 2>&1");
        EXPECT_EQ(o.status, 2) << other << ": " << o.out;
        EXPECT_NE(o.out.find("no session"), std::string::npos) << o.out;
    }
    auto stop = sh(fl + " stop " + id);
    EXPECT_EQ(stop.status, 0);
    EXPECT_EQ(fi->wait(5s), 0);
    EXPECT_EQ(sh(fl + " status --json").out, "[]\n");
}

TEST_F(Net, ExecReturnsTheCommandsStatus) {
    REQUIRE_FAULT("net.drop");
    EXPECT_EQ(sh(fl + " exec --quiet --fault net.drop@1% -- sh -c 'exit 7'").status, 7);
    EXPECT_EQ(sh(fl + " exec --quiet --fault net.drop@1% -- /nonexistent/cmd 2>/dev/null").status, 127);
}

TEST_F(Net, ExecRunsTheCommandAsTheInvokingUserWithNoCapabilities) {
    // faultline needs root; the command it starts does not. Under sudo
    // (SUDO_UID, SUDO_GID) it runs as that user, every capability gone
    // and no_new_privs set; --user names another, --user root keeps root.
    // Numeric ids: the VMs' initramfs has no user database.
    REQUIRE_FAULT("net.drop");
    const std::string show = " -- sh -c 'grep -E \"^(Uid|Gid|CapEff|NoNewPrivs):\" /proc/self/status'";
    auto r = sh("SUDO_UID=65534 SUDO_GID=65533 " + fl + " exec --quiet --fault net.drop@1%" + show);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("Uid:\t65534\t65534\t65534\t65534\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Gid:\t65533\t65533\t65533\t65533\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("CapEff:\t0000000000000000\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("NoNewPrivs:\t1\n"), std::string::npos) << r.out;
    r = sh(fl + " exec --quiet --user 65534 --fault net.drop@1%" + show);
    EXPECT_NE(r.out.find("Uid:\t65534\t65534\t65534\t65534\n"), std::string::npos) << r.out;
    // root when asked, and when faultline is not run through sudo
    for (const std::string env : {"SUDO_UID=65534 SUDO_GID=65533 ", ""}) {
        r = sh(env + fl + " exec --quiet " + (env.empty() ? "" : "--user root ") + "--fault net.drop@1%" + show);
        EXPECT_NE(r.out.find("Uid:\t0\t0\t0\t0\n"), std::string::npos) << env << r.out;
        EXPECT_NE(r.out.find("NoNewPrivs:\t0\n"), std::string::npos) << env << r.out;
    }
    r = sh(fl + " exec --quiet --user fl-no-such-user --fault net.drop@1% -- true 2>&1");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("error: unknown user 'fl-no-such-user'"), std::string::npos) << r.out;
}

TEST_F(Net, ANonRootFaultlineWithCapabilitiesPassesNoneToItsCommand) {
    // A service given faultline's capabilities as ambient ones (systemd's
    // AmbientCapabilities=) runs its commands as itself: the uid does not
    // change, so only faultline clearing the ambient set keeps them from
    // the command (they would survive the exec).
    REQUIRE_FAULT("net.drop");
    const std::string caps = "+sys_admin,+net_admin,+dac_override";
    auto r = sh("setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=" + caps + " --ambient-caps=" + caps +
                " " + fl + " exec --quiet --fault net.drop@1% -- sh -c 'grep -E \"^(Uid|Cap(Prm|Eff|Amb)):\" " +
                "/proc/self/status' 2>&1");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("Uid:\t65534\t65534\t65534\t65534\n"), std::string::npos) << r.out;
    for (const std::string set : {"CapPrm", "CapEff", "CapAmb"})
        EXPECT_NE(r.out.find(set + ":\t0000000000000000\n"), std::string::npos) << set << "\n" << r.out;
}

TEST_F(Net, BadInputIsRefusedAndNothingIsAttached) {
    struct Case {
        std::string args;
        int code;
        std::string says;
    };
    std::vector<Case> cases = {
        {"inject --cgroup /tmp --fault net.drop@1%", 2, "not a cgroup v2 directory"},
        {"inject --cgroup /nonexistent --fault net.drop@1%", 2, "does not exist"},
        {"inject --cgroup " + target_->path() + " --fault net.drop@120%", 2, "above 100%"},
        {"inject --cgroup " + target_->path() + " --fault net.drop@1% --for -5s", 2, "negative"},
        {"inject --cgroup " + target_->path() + " --fault net.drop@1% --for 30d", 2, "out of range"},
        {"exec --fault net.drop@1% --fault net.explode@1% -- true", 2, "unknown fault"},
        {"exec --fault net.drop@1%,cidr=1.2.3/40 -- true", 2, "not an IPv4 or IPv6 address"},
        {"exec --fault net.drop@1%,port=99999 -- true", 2, "not a port"},
        {"exec -- true", 2, "fault is required"},
        {"exec --netns fl-no-such-ns --fault net.drop@1% -- true", 2, "does not exist"},
        {"frobnicate", 2, "frobnicate"},
    };
    for (const auto& c : cases) {
        auto r = sh(fl + " " + c.args + " 2>&1");
        EXPECT_EQ(r.status, c.code) << c.args << "\n" << r.out;
        EXPECT_NE(r.out.find("error: "), std::string::npos) << c.args << "\n" << r.out;
        EXPECT_NE(r.out.find(c.says), std::string::npos) << c.args << "\n" << r.out;
        EXPECT_NE(r.out.find("hint: "), std::string::npos) << c.args << "\n" << r.out;
        EXPECT_EQ(new_leftovers(ready_), "") << c.args;
    }
    // Not root: refused before anything is touched, naming what it lacks.
    auto r = sh("setpriv --reuid=65534 --regid=65534 --clear-groups " + fl + " exec --fault net.drop@1% -- true 2>&1");
    EXPECT_EQ(r.status, 4) << r.out;
    EXPECT_NE(r.out.find("error: faultline lacks CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_DAC_OVERRIDE"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("sudo faultline"), std::string::npos) << r.out;
    EXPECT_EQ(new_leftovers(ready_), "");
    // Root without one capability (a container's root, a bounding set):
    // refused by name before anything is attached, not halfway through
    // (without CAP_SYS_ADMIN the probe failed and every fault was reported
    // as missing from the kernel), for every command that needs it.
    struct Drop {
        std::string cap, args, says;
    };
    for (const auto& d : std::vector<Drop>{
             {"net_admin", "exec --fault net.drop@1% -- true", "CAP_NET_ADMIN"},
             {"sys_admin", "inject --cgroup " + target_->path() + " --fault net.drop@1% --for 5s", "CAP_SYS_ADMIN"},
             {"dac_override", "exec --fault net.drop@1% -- true", "CAP_DAC_OVERRIDE"},
             {"sys_admin", "probe", "CAP_SYS_ADMIN"},
             {"sys_admin", "status", "CAP_SYS_ADMIN"},
             {"net_admin", "gc", "CAP_NET_ADMIN"},
         }) {
        r = sh("setpriv --bounding-set -" + d.cap + " " + fl + " " + d.args + " 2>&1");
        EXPECT_EQ(r.status, 4) << d.args << "\n" << r.out;
        EXPECT_NE(r.out.find("error: faultline lacks " + d.says + ":"), std::string::npos) << d.args << "\n" << r.out;
        EXPECT_NE(r.out.find("reduced capability set"), std::string::npos) << d.args << "\n" << r.out;
        EXPECT_EQ(new_leftovers(ready_), "") << d.args;
    }
    // Commands as another user need switching to it and stopping them.
    r = sh("SUDO_UID=65534 SUDO_GID=65534 setpriv --bounding-set -kill " + fl +
           " exec --fault net.drop@1% -- true 2>&1");
    EXPECT_EQ(r.status, 4) << r.out;
    EXPECT_NE(r.out.find("error: faultline lacks CAP_KILL:"), std::string::npos) << r.out;
    EXPECT_EQ(new_leftovers(ready_), "");
}

TEST_F(Net, DelayIsRefusedWithAReasonWhereTheKernelLacksFq) {
    if (support("net.delay").available)
        GTEST_SKIP() << "this kernel has sch_fq: the refusal path does not apply (the delay tests run instead)";
    for (const std::string fault : {"net.delay", "dns.delay"}) {
        auto r = sh(fl + " exec --fault " + fault + "=10ms@1% -- true 2>&1");
        EXPECT_EQ(r.status, 3) << r.out;
        EXPECT_NE(r.out.find(fault + " is not available"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("fq"), std::string::npos) << r.out;
    }
}

// One-way latencies in us, from a receiver's "lat US" lines, in arrival order.
std::vector<double> latencies(const std::string& out) {
    std::vector<double> v;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("lat ", 0) == 0)
            v.push_back(std::stod(line.substr(4)));
    return v;
}

double quantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

struct DelayCase {
    std::string proto;
    int percent;
    long requests;
};

// Timer lateness the platform adds on top of any delay: none assumed on a
// real machine. Under QEMU TCG (the VM matrix sets FL_VM_TCG) the emulated
// timers fire late — the kernel's own netem measured on the same path shows
// p50 +0.2 ms and occasional +1..4 ms (README, "VM kernel matrix") — so there
// the p99 bounds allow 5 ms instead of 1 ms. The p50 bound stays +-5%, plus
// what netem itself adds beyond its delay at p50 in the same run (NetDelay).
double p99_slack_us() {
    return getenv("FL_VM_TCG") ? 5000 : 1000;
}

class NetDelay : public Net, public ::testing::WithParamInterface<DelayCase> {};

// 10 ms on P% of a real request/response flow between the two namespaces,
// one request in flight at a time. The echo server records each request's
// one-way latency (kernel receive timestamp minus the client's send time),
// so what is measured is what the delay adds on the path, not the wake-up
// time of the processes around it.
TEST_P(NetDelay, AddsTheConfiguredLatencyToInjectedPackets) {
    REQUIRE_FAULT("net.delay");
    const auto& c = GetParam();
    const bool udp = c.proto == "udp";
    const std::string n = std::to_string(c.requests);
    std::set<size_t> stalled;
    // plain: the flow as it is; netem: the kernel's own netem delaying every
    // packet the client sends by 10 ms; faultline: the fault under test.
    enum class Path { plain, netem, faultline };
    auto run = [&](Path path, long requests) {
        const std::string dev = lab_->dev_a();
        if (path == Path::netem &&
            sh("ip netns exec " + lab_->a + " tc qdisc replace dev " + dev + " root netem delay 10ms 2>&1").status != 0)
            return std::vector<double>{}; // no sch_netem here
        Proc echo(lab_->in(lab_->b, udp ? std::vector<std::string>{traffic, "udp-echo", "9200", "2000", "120000"}
                                        : std::vector<std::string>{traffic, "tcp-echo", "9200", "120000"}));
        EXPECT_TRUE(echo.wait_for("ready", 5s));
        std::vector<std::string> argv;
        if (path == Path::faultline) // --netns: sch_fq goes where the client's packets leave
            argv = {fl,        "exec",    "--quiet",
                    "--netns", lab_->a,   "--stats-json",
                    stats_,    "--fault", "net.delay=10ms@" + std::to_string(c.percent) + "%,proto=" + c.proto,
                    "--"};
        else
            argv = {"ip", "netns", "exec", lab_->a};
        for (auto& a : std::vector<std::string>{traffic, c.proto + "-ping", "198.18.0.2", "9200",
                                                std::to_string(requests), "2000"})
            argv.push_back(a);
        Proc ping(argv, path == Path::faultline ? "" : target_->path());
        EXPECT_EQ(ping.wait(), 0) << ping.out();
        EXPECT_NE(ping.out().find(" lost 0"), std::string::npos) << ping.out();
        if (path == Path::faultline) { // requests whose sender was held up (see fl_traffic)
            std::istringstream in(ping.out().substr(ping.out().find("stalled") + 7));
            for (long i; in >> i;)
                stalled.insert(static_cast<size_t>(i));
        }
        EXPECT_EQ(echo.wait(), 0);
        if (path == Path::netem)
            EXPECT_EQ(sh("ip netns exec " + lab_->a + " tc qdisc del dev " + dev + " root 2>&1").status, 0);
        return latencies(echo.out());
    };
    auto base = run(Path::plain, c.requests);
    ASSERT_EQ(base.size(), static_cast<size_t>(c.requests));
    // The platform's own lateness on this path, measured in the same run just
    // before the fault: the kernel's netem delaying the same flow by 10 ms
    // (its timer and the same softirq path as sch_fq). What it adds beyond
    // 10 ms at p50 — tens of microseconds on real hardware, 0.2..0.5 ms under
    // QEMU TCG and more on a busier host — is allowed on top of the +5 %
    // bound below, so the bound tracks the machine, not the fault.
    auto reference = run(Path::netem, std::min(c.requests, 300L));
    auto with = run(Path::faultline, c.requests);
    ASSERT_EQ(with.size(), static_cast<size_t>(c.requests));
    const double b50 = quantile(base, 0.5);
    // A request counts as delayed when it took more than half the delay;
    // the baseline one-way latency is tens of microseconds.
    std::vector<double> added;
    std::string late;         // request numbers over 11 ms, to tell warm-up from noise
    size_t added_stalled = 0; // of which the sender was held up (see above)
    for (size_t i = 0; i < with.size(); i++)
        if (with[i] > 5000) {
            added.push_back(with[i] - b50);
            added_stalled += stalled.count(i);
            if (added.back() > 11000)
                late += " #" + std::to_string(i) + "=" + std::to_string(std::lround(added.back()));
        }
    ASSERT_FALSE(added.empty()) << "no request was delayed";
    const uint64_t injected = read_json(stats_)["experiments"][0]["injected"].get<uint64_t>();
    if (c.percent == 100)
        EXPECT_EQ(added.size(), static_cast<size_t>(c.requests)) << "fastest one-way " << quantile(with, 0) << " us";
    else
        expect_binomial(added.size(), static_cast<uint64_t>(c.requests), c.percent / 100.0);
    // One datagram per request: the delayed ones are the injected ones. A
    // request whose sender stalled (> 2 ms inside send(): a descheduled vCPU
    // under TCG) looks delayed whether it was or not, so it can only widen
    // the range, never move it: exact when nothing stalled.
    if (udp) {
        EXPECT_LE(added.size() - added_stalled, injected) << "stalled: " << stalled.size();
        EXPECT_GE(added.size(), injected) << "stalled: " << stalled.size();
    } else { // TCP: injected also counts the client's ACKs, SYN and FIN
        EXPECT_LE(added.size() - added_stalled, injected) << "stalled: " << stalled.size();
    }
    // Added latency of the delayed requests: p50 within -5% .. +5% of 10 ms
    // plus the platform's excess that netem showed (above), p99 within +1 ms
    // (+5 ms under TCG, above).
    auto us = [](double v) { return std::to_string(std::lround(v)) + " us"; };
    double platform_us = 0, platform_p99_us = 0;
    std::string netem = "netem not available (no sch_netem): no platform allowance";
    if (!reference.empty()) {
        ASSERT_EQ(reference.size(), std::min(static_cast<size_t>(c.requests), size_t{300}));
        for (auto& v : reference)
            v -= b50;
        platform_us = std::max(0.0, quantile(reference, 0.5) - 10000);
        // Under TCG the tail too: with two VMs on two host CPUs, TCP at
        // 100 % reached p99 +5.03 ms over a +5 ms bound.
        if (getenv("FL_VM_TCG"))
            platform_p99_us = std::max(0.0, quantile(reference, 0.99) - 10000);
        netem = "netem added p50 " + us(quantile(reference, 0.5)) + ", p99 " + us(quantile(reference, 0.99)) +
                ", max " + us(quantile(reference, 1)) + " over " + std::to_string(reference.size());
    }
    const std::string seen = "baseline one-way p50 " + us(b50) + ", max " + us(quantile(base, 1)) + "; added p50 " +
                             us(quantile(added, 0.5)) + ", p99 " + us(quantile(added, 0.99)) + ", max " +
                             us(quantile(added, 1)) + " over " + std::to_string(added.size()) + "; over 11 ms:" + late +
                             "; " + netem;
    std::cout << "[ figures  ] " << c.proto << " " << c.percent << "%: " << seen << "\n";
    EXPECT_GE(quantile(added, 0.5), 10000 * 0.95) << seen;
    EXPECT_LE(quantile(added, 0.5), 10000 * 1.05 + platform_us) << seen;
    EXPECT_LE(quantile(added, 0.99), 10000 + p99_slack_us() + platform_p99_us) << seen;
}

// 100%: 300 requests; 1%: 5000 requests, about 50 delayed (the binomial
// check accepts 20..88).
INSTANTIATE_TEST_SUITE_P(Flows, NetDelay,
                         ::testing::Values(DelayCase{"udp", 100, 300}, DelayCase{"udp", 1, 5000},
                                           DelayCase{"tcp", 100, 300}, DelayCase{"tcp", 1, 5000}),
                         [](const auto& info) {
                             return info.param.proto + "_" + std::to_string(info.param.percent) + "pct";
                         });

TEST_F(Net, DelayJitterNeverReordersAFlow) {
    REQUIRE_FAULT("net.delay");
    // 2000 datagrams in one flow at 2000/s, each delayed 10 ms +- 5 ms:
    // without the per-flow clamp about half would overtake their predecessor.
    // Resolve the neighbour first (from outside the target, so undelayed, and
    // to a port nobody receives on): a burst sent before ARP completes waits
    // in the neighbour queue, which drops beyond its byte limit — a loss
    // that is not faultline's.
    Proc prime(lab_->in(lab_->a, {traffic, "udp-send", "198.18.0.2", "9001", "10", "2", "1000"}));
    ASSERT_EQ(prime.wait(), 0);
    // What faultline must not do is reorder a flow; a veth pair can on its
    // own: each packet is queued to the backlog of the CPU that sent it on
    // (the sender's, or the one whose fq timer released it), and the two
    // CPUs' backlogs drain independently — 11 of 2000 datagrams arrived out
    // of order so on a VM whose vCPUs were preempted. Steering every
    // arriving packet to one CPU's backlog (RPS) keeps the order the fq
    // released them in, which is what this test checks.
    EXPECT_EQ(sh("ip netns exec " + lab_->b + " sh -c 'echo 1 > /sys/class/net/" + lab_->dev_b() +
                 "/queues/rx-0/rps_cpus' 2>&1")
                  .status,
              0);
    // The platform's own tail on this path, in the same run: the same flow
    // with the kernel's netem delaying it 10 ms (no jitter: netem's would
    // reorder). What netem adds beyond 10 ms at p99 (a fraction of a ms on
    // real hardware, several under QEMU TCG on a busy host) is allowed on
    // top of the 15 ms bound below, so the bound tracks the machine.
    double platform_p99 = 0;
    std::string netem = "netem not available (no sch_netem): no platform allowance";
    const std::string dev = lab_->dev_a();
    if (sh("ip netns exec " + lab_->a + " tc qdisc replace dev " + dev + " root netem delay 10ms 2>&1").status == 0) {
        auto ref_rx = receiver();
        Proc ref(send_udp(2000, 1, 2000), target_->path());
        ASSERT_EQ(ref.wait(), 0) << ref.out();
        ASSERT_EQ(ref_rx->wait(), 0);
        EXPECT_EQ(sh("ip netns exec " + lab_->a + " tc qdisc del dev " + dev + " root 2>&1").status, 0);
        auto ref_lat = latencies(ref_rx->out());
        ASSERT_FALSE(ref_lat.empty()) << ref_rx->out();
        platform_p99 = std::max(0.0, quantile(ref_lat, 0.99) - 10000);
        netem = "netem 10 ms on the same flow: p50 " + std::to_string(std::lround(quantile(ref_lat, 0.5))) +
                " us, p99 " + std::to_string(std::lround(quantile(ref_lat, 0.99))) + " us";
    }
    auto rx = receiver();
    std::vector<std::string> argv = {fl,        "exec",    "--quiet",
                                     "--netns", lab_->a,   "--stats-json",
                                     stats_,    "--fault", "net.delay=10ms@100%,jitter=5ms,proto=udp",
                                     "--"};
    for (auto& a : std::vector<std::string>{traffic, "udp-send", "198.18.0.2", "9000", "2000", "1", "2000"})
        argv.push_back(a);
    Proc tx(argv);
    ASSERT_EQ(tx.wait(), 0) << tx.out();
    ASSERT_EQ(rx->wait(), 0);
    EXPECT_NE(tx.out().find("sent 2000 errors 0"), std::string::npos) << tx.out();
    auto got = parse_counts(rx->out());
    EXPECT_EQ(got["tag1"], 2000u) << "sender: " << tx.out() << "\nreceiver's UDP counters: "
                                  << sh("ip netns exec " + lab_->b + " grep Udp: /proc/net/snmp").out
                                  << "softnet_stat: " << sh("cat /proc/net/softnet_stat").out;
    EXPECT_EQ(got["inversions"], 0u) << rx->out();
    EXPECT_EQ(read_json(stats_)["experiments"][0]["injected"].get<uint64_t>(), 2000u);
    // Each datagram arrives 5 to 15 ms after it was sent: the clamp
    // only ever holds one back to its predecessor's departure, which is at
    // most 15 ms after that predecessor's (earlier) send.
    auto lat = latencies(rx->out());
    ASSERT_EQ(lat.size(), 2000u);
    std::cout << "[ figures  ] jitter: one-way p0 " << quantile(lat, 0) << " us, p50 " << quantile(lat, 0.5)
              << " us, p99 " << quantile(lat, 0.99) << " us, max " << quantile(lat, 1) << " us; " << netem << "\n";
    EXPECT_GE(quantile(lat, 0), 5000) << "one-way p0 " << quantile(lat, 0) << " us";
    // p99 within 15 ms + 1 ms + the platform's p99 excess measured above.
    // Not under QEMU TCG: there a preempted vCPU stalls the fq timer for
    // 10-20 ms at random moments, and with two VMs on two host CPUs the
    // flow's p99 ranged 19.8-31.7 ms over 12 runs while netem's, measured
    // seconds before, ranged 12.6-18.8 ms: no figure taken at another
    // moment bounds it. The order (above) and the floor are asserted there
    // too; the NetDelay tests bound the latency against netem at p50.
    if (!getenv("FL_VM_TCG"))
        EXPECT_LE(quantile(lat, 0.99), 15000 + 1000 + platform_p99)
            << "one-way p99 " << quantile(lat, 0.99) << " us; " << netem;
}

TEST_F(Net, DemoReportsWhatItInjected) {
    REQUIRE_FAULT("net.drop");
    // README command 1's main job, checked against its own counters.
    auto r = sh(fl + " demo --json --requests 5000");
    ASSERT_EQ(r.status, 0) << r.out;
    auto j = json::parse(r.out);
    ASSERT_EQ(j.size(), 3u);
    EXPECT_EQ(j[0]["phase"], "baseline");
    EXPECT_EQ(j[0]["answered"], j[0]["sent"]);
    for (const auto& ph : {j[1], j[2]}) {
        if (ph.contains("skipped")) {
            // Only a kernel that cannot do the fault may skip it, with a reason.
            EXPECT_NE(ph["skipped"].get<std::string>().find("not available"), std::string::npos) << ph;
            continue;
        }
        auto c = ph["counters"][0];
        EXPECT_EQ(c["matched"].get<uint64_t>(), 5000u) << ph;
        expect_binomial(c["injected"].get<uint64_t>(), 5000, 0.01);
        if (ph["fault"] == "net.drop@1%") // each dropped request is one lost
            EXPECT_EQ(ph["sent"].get<uint64_t>() - ph["answered"].get<uint64_t>(), c["injected"].get<uint64_t>());
    }
    EXPECT_FALSE(j[2].contains("skipped")) << "net.drop must be available on every supported kernel";
}

TEST_F(Net, EndedSessionDetachesWhileTheProcessLives) {
    REQUIRE_FAULT("net.drop");
    // A long-lived process (demo, a future `run` of several steps) ends one
    // session and goes on: its programs must be gone at once, not at exit.
    {
        Session s({.target = target_->ref(), .faults = {parse_fault("net.drop@100%,proto=udp")}});
        auto rx = receiver({}, 2000);
        Proc tx(send_udp(200, 1, 20000), target_->path());
        ASSERT_EQ(tx.wait(), 0);
        ASSERT_EQ(rx->wait(), 0);
        ASSERT_EQ(parse_counts(rx->out())["tag1"], 0u) << "the fault was not active";
    }
    auto rx = receiver();
    Proc tx(send_udp(1000, 1, 20000), target_->path());
    ASSERT_EQ(tx.wait(), 0);
    ASSERT_EQ(rx->wait(), 0);
    EXPECT_EQ(parse_counts(rx->out())["tag1"], 1000u);
    EXPECT_EQ(new_leftovers(ready_), "");
}
