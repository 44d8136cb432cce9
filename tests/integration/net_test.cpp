// SPDX-License-Identifier: Apache-2.0
// End to end on the machine's kernel, as root: the real faultline binary,
// real UDP and TCP traffic between two network namespaces (198.18.0.0/15),
// a target cgroup and a sibling cgroup running the same traffic.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

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

// Built paths, overridable for runs elsewhere (the VM kernel matrix).
std::string env_or(const char* name, const char* fallback) {
    const char* v = getenv(name);
    return v && *v ? v : fallback;
}
const std::string fl = env_or("FAULTLINE_BIN", FL_BIN);
const std::string traffic = env_or("FL_TRAFFIC_BIN", FL_TRAFFIC_BIN);

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

json read_json(const std::string& path) {
    std::ifstream in(path);
    return json::parse(in);
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
    auto t0 = std::chrono::steady_clock::now();
    auto fi = inject("net.drop@100%", "--for=1500ms");
    EXPECT_EQ(fi->wait(10s), 0) << fi->out();
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(took, 1500ms);
    EXPECT_LT(took, 6s);
}

TEST_F(Net, StatusShowsLiveCountersAndStopEndsTheSession) {
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

    auto stop = sh(fl + " stop " + j[0]["session"].get<std::string>());
    EXPECT_EQ(stop.status, 0);
    EXPECT_EQ(fi->wait(5s), 0);
    EXPECT_EQ(sh(fl + " status --json").out, "[]\n");
}

TEST_F(Net, ExecReturnsTheCommandsStatus) {
    EXPECT_EQ(sh(fl + " exec --quiet --fault net.drop@1% -- sh -c 'exit 7'").status, 7);
    EXPECT_EQ(sh(fl + " exec --quiet --fault net.drop@1% -- /nonexistent/cmd 2>/dev/null").status, 127);
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
    // Not root: refused before anything is touched.
    auto r = sh("setpriv --reuid=65534 --regid=65534 --clear-groups " + fl + " exec --fault net.drop@1% -- true 2>&1");
    EXPECT_EQ(r.status, 4) << r.out;
    EXPECT_NE(r.out.find("must run as root"), std::string::npos) << r.out;
}

// What faultline's own probe says of net.delay on this kernel.
const FaultSupport& delay_support() {
    const auto& rep = probe_kernel();
    auto it = std::find_if(rep.faults.begin(), rep.faults.end(), [](auto& f) { return f.fault == "net.delay"; });
    if (it == rep.faults.end())
        throw std::runtime_error("probe does not report net.delay");
    return *it;
}

TEST_F(Net, DelayIsRefusedWithAReasonWhereTheKernelLacksFq) {
    if (delay_support().available)
        GTEST_SKIP() << "this kernel has sch_fq: the refusal path does not apply (the delay tests run instead)";
    auto r = sh(fl + " exec --fault net.delay=10ms@1% -- true 2>&1");
    EXPECT_EQ(r.status, 3) << r.out;
    EXPECT_NE(r.out.find("net.delay is not available"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("fq"), std::string::npos) << r.out;
}

// Skips, naming the missing feature, where the kernel cannot delay.
#define REQUIRE_DELAY()                                                                                                \
    if (!delay_support().available)                                                                                    \
    GTEST_SKIP() << "net.delay unavailable on this kernel (needs sch_fq): " << delay_support().reason

TEST_F(Net, DelayAddsTheConfiguredLatency) {
    REQUIRE_DELAY();
    Proc echo(lab_->in(lab_->b, {traffic, "udp-echo", "9200", "120000"}));
    ASSERT_TRUE(echo.wait_for("ready", 5s));
    auto ping = [&](std::vector<std::string> argv, const std::string& cgroup) {
        for (auto& a : std::vector<std::string>{traffic, "udp-ping", "198.18.0.2", "9200", "300", "1000"})
            argv.push_back(a);
        Proc p(argv, cgroup);
        EXPECT_EQ(p.wait(), 0);
        std::istringstream in(p.out());
        std::string k;
        double p50 = 0, p99 = 0;
        uint64_t lost = 0;
        in >> k >> p50 >> k >> p99 >> k >> lost;
        EXPECT_EQ(lost, 0u) << p.out();
        return std::pair{p50, p99};
    };
    auto [b50, b99_unused] = ping({"ip", "netns", "exec", lab_->a}, target_->path());
    // --netns: sch_fq goes on the devices of the client's namespace (where
    // the packets leave), and the command runs there.
    auto [d50, d99] =
        ping({fl, "exec", "--quiet", "--netns", lab_->a, "--fault", "net.delay=10ms@100%,proto=udp", "--"}, "");
    // Every request is delayed 10 ms once (replies come from outside the
    // target): added p50 within +-5%, added p99 within +1 ms of the target.
    EXPECT_GE(d50 - b50, 10000 * 0.95) << "baseline p50 " << b50 << "us, delayed " << d50 << "us";
    EXPECT_LE(d50 - b50, 10000 * 1.05) << "baseline p50 " << b50 << "us, delayed " << d50 << "us";
    EXPECT_LE(d99 - b50, 10000 + 1000) << "baseline p50 " << b50 << "us, delayed p99 " << d99 << "us";
}

TEST_F(Net, DelayJitterNeverReordersAFlow) {
    REQUIRE_DELAY();
    // 2000 datagrams in one flow, each delayed 10 ms +- 5 ms: without the
    // per-flow clamp about half would overtake their predecessor.
    auto rx = receiver();
    std::vector<std::string> argv = {fl,        "exec",    "--quiet",
                                     "--netns", lab_->a,   "--stats-json",
                                     stats_,    "--fault", "net.delay=10ms@100%,jitter=5ms,proto=udp",
                                     "--"};
    for (auto& a : std::vector<std::string>{traffic, "udp-send", "198.18.0.2", "9000", "2000", "1", "5000"})
        argv.push_back(a);
    Proc tx(argv);
    ASSERT_EQ(tx.wait(), 0) << tx.out();
    ASSERT_EQ(rx->wait(), 0);
    auto got = parse_counts(rx->out());
    EXPECT_EQ(got["tag1"], 2000u) << rx->out();
    EXPECT_EQ(got["inversions"], 0u) << rx->out();
    EXPECT_EQ(read_json(stats_)["experiments"][0]["injected"].get<uint64_t>(), 2000u);
}

TEST_F(Net, DemoReportsWhatItInjected) {
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
