// SPDX-License-Identifier: Apache-2.0
// The safety promise at its edges (issue 18): targets beyond one service are
// refused, deadlines hold in a time namespace, the sentinel undoes every
// side effect outside BPF within its bound when the loader is killed at any
// step, fq qdiscs are shared and removed by their last user, and the state
// records are read defensively. Real faultline binary, real processes.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>

#include "../support/integration.hpp"
#include "../support/lab.hpp"
#include "faultline/cgroup.hpp"

using namespace faultline;
using namespace faultline::test;
using namespace std::chrono_literals;

namespace {

class Safety : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0)
            GTEST_SKIP() << "needs root (network namespaces, cgroups, BPF)";
        before_ = faultline_objects();
        lab_ = std::make_unique<NetLab>();
        ASSERT_TRUE(lab_->ok()) << "could not build the veth lab";
        root_ = cgroup2_mount();
        target_ = std::make_unique<ScratchCgroup>(root_, "faultline-it-target-" + std::to_string(getpid()));
        ready_ = faultline_objects();
    }
    void TearDown() override {
        target_.reset();
        lab_.reset();
        if (geteuid() == 0)
            EXPECT_EQ(new_leftovers(before_), "") << "left behind";
    }

    std::unique_ptr<NetLab> lab_;
    std::string root_;
    std::set<std::string> before_, ready_;
    std::unique_ptr<ScratchCgroup> target_;
};

// A fault that only ever matches fl_traffic udp-connect-every 127.0.0.1 9.
const std::string connect_fault = "net.connect=ECONNREFUSED@100%,cidr=127.0.0.1/32,port=9";

} // namespace

TEST_F(Safety, HostWideTargetsAreRefusedAndNothingIsAttached) {
    // A cgroup holding a shell that runs faultline: the target contains
    // faultline and the process it was started from.
    // (Not named faultline-*: the leftover check would count it.)
    ScratchCgroup holder(root_, "fl-it-holder-" + std::to_string(getpid()));
    ScratchCgroup inner(holder.path(), "inner");
    // faultline started from that shell (a child of it), or the shell itself
    std::string from_holder = "sh -c 'echo $$ > " + inner.path() + "/cgroup.procs && { " + fl;
    std::string end_child = "; r=$?; exit $r; }'";
    std::string in_holder = "sh -c 'echo $$ > " + inner.path() + "/cgroup.procs && exec " + fl;
    struct Case {
        std::string cmd;
        std::string says;
    };
    std::vector<Case> cases = {
        {fl + " inject --cgroup / --fault net.drop@1% --for 1s", "root of the cgroup v2 hierarchy"},
        {fl + " inject --cgroup " + root_ + " --fault net.drop@1% --for 1s", "root of the cgroup v2 hierarchy"},
        {in_holder + " inject --cgroup " + holder.path() + " --fault net.drop@1% --for 1s'",
         "contains faultline itself"},
        {from_holder + " inject --cgroup " + holder.path() + " --fault net.drop@1% --for 1s" + end_child,
         "which faultline was started from"},
        {fl + " inject --cgroup " + target_->path() + " --fault net.drop@1% --for forever",
         "--for forever needs --allow-host-wide"},
    };
    // The file form: run --dry-run calls it invalid too.
    std::string yaml = "/tmp/faultline-it-hostwide-" + std::to_string(getpid()) + ".yaml";
    std::ofstream(yaml) << "title: t\ntarget: {cgroup: /}\nsteps:\n  - {faults: [net.drop@1%], duration: 1s}\n";
    cases.push_back({fl + " run --dry-run " + yaml, "root of the cgroup v2 hierarchy"});
    cases.push_back({fl + " run " + yaml, "root of the cgroup v2 hierarchy"});
    for (const auto& c : cases) {
        auto r = sh(c.cmd + " 2>&1");
        EXPECT_EQ(r.status, 2) << c.cmd << "\n" << r.out;
        EXPECT_NE(r.out.find("error: "), std::string::npos) << c.cmd << "\n" << r.out;
        EXPECT_NE(r.out.find(c.says), std::string::npos) << c.cmd << "\n" << r.out;
        EXPECT_NE(r.out.find("hint: "), std::string::npos) << c.cmd << "\n" << r.out;
    }
    EXPECT_EQ(new_leftovers(ready_), "") << "a refused command left something";
    REQUIRE_FAULT("net.connect"); // the refusals above need none
    // Said explicitly, it runs and names what it hits (a fault that matches
    // nothing real: one unused loopback port).
    auto r = sh(in_holder + " inject --allow-host-wide --cgroup " + holder.path() + " --fault " + connect_fault +
                " --for 300ms' 2>&1");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("warning: host-wide target (it contains faultline itself"), std::string::npos) << r.out;
    std::ofstream(yaml, std::ios::app) << "allow_host_wide: true\n";
    r = sh(fl + " run --dry-run " + yaml + " 2>&1");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("warning: host-wide target (it is the root"), std::string::npos) << r.out;
    std::remove(yaml.c_str());
    EXPECT_EQ(new_leftovers(ready_), "");
}

// A cgroup that holds PID 1 (and nothing of faultline's) is refused. PID 1
// sits in the root cgroup here and in the VMs, so the test moves it into a
// scratch cgroup and back: only on the VM matrix's throwaway machines.
TEST_F(Safety, ACgroupHoldingPid1IsRefused) {
    if (!getenv("FL_VM"))
        GTEST_SKIP() << "moves PID 1 between cgroups: only in the VM matrix (FL_VM=1)";
    const std::string home = root_ + cgroup_of(1);
    ScratchCgroup holder(root_, "fl-it-pid1-" + std::to_string(getpid()));
    cgroup_move(holder.path(), 1);
    auto r = sh(fl + " inject --cgroup " + holder.path() + " --fault net.drop@1% --for 1s 2>&1");
    cgroup_move(home, 1);
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("it contains PID 1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("hint: "), std::string::npos) << r.out;
    EXPECT_EQ(new_leftovers(ready_), "");
}

TEST_F(Safety, InjectIsBoundedByDefaultAndForeverMustBeSaid) {
    REQUIRE_FAULT("net.connect");
    Proc p({fl, "inject", "--cgroup", target_->path(), "--fault", connect_fault}, "", true);
    ASSERT_TRUE(p.wait_for("Ctrl-C", 10s)) << p.out();
    EXPECT_NE(p.out().find("for 600s: the default"), std::string::npos) << p.out();
    kill(p.pid(), SIGTERM);
    EXPECT_EQ(p.wait(10s), 0) << p.out();
    Proc q(
        {fl, "inject", "--allow-host-wide", "--for", "forever", "--cgroup", target_->path(), "--fault", connect_fault},
        "", true);
    ASSERT_TRUE(q.wait_for("Ctrl-C", 10s)) << q.out();
    EXPECT_NE(q.out().find("until stopped"), std::string::npos) << q.out();
    kill(q.pid(), SIGTERM);
    EXPECT_EQ(q.wait(10s), 0) << q.out();
}

// --- clock namespaces -------------------------------------------------------

namespace {

// CLOCK_MONOTONIC offsets to run the loader under: a day ahead, and as far
// back as this machine's uptime allows (the kernel refuses an offset that
// would make the clock negative). 0 when that is too little to matter.
long offset_of(const std::string& which) {
    if (which == "ahead")
        return 86400;
    double up = 0;
    std::ifstream("/proc/uptime") >> up;
    long back = std::min(86400L, static_cast<long>(up) - 5);
    return back >= 10 ? -back : 0;
}

std::string time_ns_problem() {
    auto r = sh("unshare -T --monotonic 1 sh -c : 2>&1");
    return r.status == 0 ? "" : "no time namespaces here (CONFIG_TIME_NS, util-linux unshare -T): " + r.out;
}

class SafetyClock : public Safety, public ::testing::WithParamInterface<std::string> {
  protected:
    void SetUp() override {
        Safety::SetUp();
        if (IsSkipped())
            return;
        REQUIRE_FAULT("net.connect");
        if (auto why = time_ns_problem(); !why.empty())
            GTEST_SKIP() << why;
        off_ = offset_of(GetParam());
        if (off_ == 0)
            GTEST_SKIP() << "uptime too short for a negative monotonic offset";
    }
    long off_ = 0; // the loader's CLOCK_MONOTONIC offset (s)
};

} // namespace

// `--for` counts on the kernel's clock, whatever the loader's namespace
// says: under +1 day the fault still ends on time, under a negative offset it
// still starts. 100 ms between attempts; the bounds leave 1.5 s for start-up
// (the kernel deadline is counted from before the programs are attached)
// and 0.5 s past the end (two ticks at most, tested elsewhere).
TEST_P(SafetyClock, ForEndsOnTimeUnderAShiftedMonotonicClock) {
    const long off = off_;
    Proc p({"unshare", "-T", "--monotonic", std::to_string(off), fl, "exec", "--quiet", "--for", "3s", "--fault",
            connect_fault, "--", traffic, "udp-connect-every", "127.0.0.1", "9", "4500", "100"});
    ASSERT_EQ(p.wait(30s), 0) << p.out();
    auto v = attempts(p.out());
    ASSERT_GE(v.size(), 20u) << p.out();
    int early = 0;
    for (const auto& [ms, res] : v) {
        if (ms < 1500) {
            early++;
            EXPECT_EQ(res, "ECONNREFUSED") << "at " << ms << " ms, offset " << off << "\n" << p.out();
        }
        if (ms >= 3500)
            EXPECT_EQ(res, "ok") << "at " << ms << " ms, offset " << off << "\n" << p.out();
    }
    EXPECT_GE(early, 5) << p.out();
}

// A stopped loader's faults end within the lease (3 s after its last
// renewal, which is at most 1 s before the stop), whatever its namespace
// says. Attempts for 1.5 s after the stop must fail, from 3.6 s on succeed.
TEST_P(SafetyClock, AStoppedLoaderLosesItsFaultsWithinTheLease) {
    const long off = off_;
    Proc fi({"unshare", "-T", "--monotonic", std::to_string(off), fl, "inject", "--quiet", "--for", "60s", "--cgroup",
             target_->path(), "--fault", connect_fault},
            "", true);
    ASSERT_TRUE(fi.wait_for("Ctrl-C", 10s)) << fi.out();
    // unshare execs faultline: the same pid.
    kill(fi.pid(), SIGSTOP);
    Proc c({traffic, "udp-connect-every", "127.0.0.1", "9", "5000", "100"}, target_->path());
    ASSERT_EQ(c.wait(30s), 0);
    kill(fi.pid(), SIGCONT);
    kill(fi.pid(), SIGTERM);
    EXPECT_EQ(fi.wait(10s), 0) << fi.out();
    auto v = attempts(c.out());
    ASSERT_GE(v.size(), 20u) << c.out();
    for (const auto& [ms, res] : v) {
        if (ms < 1500)
            EXPECT_EQ(res, "ECONNREFUSED") << "at " << ms << " ms after SIGSTOP, offset " << off << "\n" << c.out();
        if (ms >= 3600)
            EXPECT_EQ(res, "ok") << "at " << ms << " ms after SIGSTOP, offset " << off << "\n" << c.out();
    }
}

INSTANTIATE_TEST_SUITE_P(Offsets, SafetyClock, ::testing::Values("ahead", "behind"),
                         [](const auto& info) { return info.param; });

// --- kill at every step -----------------------------------------------------

namespace {

// The records in /run/faultline now (their names).
std::set<std::string> record_names() {
    std::set<std::string> s;
    std::istringstream in(sh("ls -A /run/faultline 2>/dev/null").out);
    std::string l;
    while (std::getline(in, l))
        s.insert(l);
    return s;
}

struct KillTally {
    int runs = 0, kills = 0, leftovers = 0;
    std::vector<double> cleanup_ms; // loader dead -> its records gone (the sentinel is done)
    std::string summary() const {
        std::vector<double> v = cleanup_ms;
        std::sort(v.begin(), v.end());
        double p50 = v.empty() ? 0 : v[v.size() / 2], mx = v.empty() ? 0 : v.back();
        return fmt::format("{} runs, {} killed, {} with leftovers; cleanup p50 {:.0f} ms, max {:.0f} ms", runs, kills,
                           leftovers, p50, mx);
    }
};

} // namespace

class SafetyKill : public Safety {
  protected:
    // Every fault class this kernel can do, each matching nothing real, so
    // that one session holds every kind of side effect: cgroup links, fq
    // qdiscs (delay), tc filters or tcx links (error answers), tracing links
    // (disk, memory).
    std::vector<std::string> faults() {
        std::vector<std::string> f = {"--fault", "net.drop@100%,cidr=198.19.255.254/32"};
        if (support("net.delay").available)
            f.insert(f.end(), {"--fault", "net.delay=10ms@1%,cidr=198.19.255.254/32"});
        if (support("dns.nxdomain").available)
            f.insert(f.end(), {"--fault", "dns.nxdomain@1%,domain=nothing.invalid"});
        if (support("disk.eio").available)
            f.insert(f.end(), {"--fault", "disk.eio@1%,op=open,path=" + scratch_file_});
        if (support("mem.enomem").available)
            f.insert(f.end(), {"--fault", "mem.enomem@1%,min=1GiB"});
        return f;
    }

    std::vector<std::string> command(const std::string& which, const std::string& crashpoint) {
        std::vector<std::string> argv = {"env", "FAULTLINE_CRASHPOINT=" + crashpoint, fl};
        auto f = faults();
        if (which == "exec") {
            argv.insert(argv.end(), {"exec", "--netns", lab_->a});
            argv.insert(argv.end(), f.begin(), f.end());
            argv.insert(argv.end(), {"--", "sleep", "30"});
        } else if (which == "inject") {
            argv.insert(argv.end(),
                        {"inject", "--quiet", "--for", "30s", "--netns", lab_->a, "--cgroup", target_->path()});
            argv.insert(argv.end(), f.begin(), f.end());
        } else {
            std::ofstream y(yaml_);
            y << "title: kill\ntarget: {exec: [sleep, \"30\"]}\nnetns: " << lab_->a
              << "\nsteps:\n  - {name: pause, faults: [], duration: 200ms}\n  - faults:\n";
            for (size_t i = 1; i < f.size(); i += 2)
                y << "      - " << f[i] << "\n";
            y << "    duration: 30s\n";
            argv.insert(argv.end(), {"run", "--journal", journal_, yaml_});
        }
        return argv;
    }

    // One loader, killed at a named step (crashpoint NAME:1) or at a random
    // moment (`kill_after`), or ended by SIGTERM where it lives on: then
    // nothing of it may remain once its sentinel is done, within 2 s.
    void one(KillTally& t, const std::string& which, const std::string& point,
             std::optional<std::chrono::milliseconds> kill_after) {
        auto recs_before = record_names();
        Proc p(command(which, point.empty() ? "none:1" : point + ":1"), "", true);
        int status = -1;
        if (kill_after) {
            std::this_thread::sleep_for(*kill_after);
            kill(p.pid(), SIGKILL);
            status = p.wait(10s);
        } else {
            // A setup point kills it; otherwise it says its faults are live
            // and a SIGTERM takes it through the teardown points.
            const char* live = which == "exec" ? "faultline: session" : which == "inject" ? "Ctrl-C" : "for 30s";
            if (p.wait_for(live, 30s))
                kill(p.pid(), SIGTERM);
            status = p.wait(20s);
        }
        auto dead = std::chrono::steady_clock::now();
        t.runs++;
        if (status == 128 + SIGKILL)
            t.kills++;
        // The sentinel removes the records last: their absence means it is done.
        double ms = -1;
        while (std::chrono::steady_clock::now() - dead < 2s) {
            auto now = record_names();
            bool extra = std::any_of(now.begin(), now.end(), [&](auto& n) { return !recs_before.count(n); });
            if (!extra) {
                ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - dead).count();
                break;
            }
            std::this_thread::sleep_for(5ms);
        }
        std::string left = new_leftovers(ready_);
        if (ms < 0 || !left.empty())
            t.leftovers++;
        else
            t.cleanup_ms.push_back(ms);
        EXPECT_GE(ms, 0) << which << " " << point << ": records still there 2 s after the loader died\n" << p.out();
        EXPECT_EQ(left, "") << which << " " << point << " (status " << status << ")\n" << p.out();
        std::remove(journal_.c_str());
    }

    void SetUp() override {
        Safety::SetUp();
        if (IsSkipped())
            return;
        scratch_file_ = "/tmp/faultline-it-kill-" + std::to_string(getpid());
        yaml_ = scratch_file_ + ".yaml";
        journal_ = scratch_file_ + ".jsonl";
        std::ofstream(scratch_file_) << "x";
    }
    void TearDown() override {
        for (const auto& f : {scratch_file_, yaml_, journal_})
            std::remove(f.c_str());
        Safety::TearDown();
    }
    std::string scratch_file_, yaml_, journal_;
};

// Every named step of setup and teardown, for each command, with every
// fault class this kernel supports in the one session; then SIGKILL at
// random moments (FL_KILL_ROUNDS per command, default 3, 1 in the VMs; the
// campaign runs more). The figures go to the test's output (README "Safety").
TEST_F(SafetyKill, AKilledLoaderLeavesNothingBehindAtAnyStep) {
    REQUIRE_FAULT("net.drop");
    const std::map<std::string, std::vector<std::string>> points = {
        {"exec",
         {"cgroup-recorded", "cgroup-made", "session-recorded", "fq-recorded", "fq-added", "tc-recorded", "tc-attached",
          "attached", "exec-forked", "teardown-links", "teardown-tc", "teardown-fq", "cgroup-removed"}},
        {"inject",
         {"session-recorded", "fq-recorded", "fq-added", "tc-attached", "attached", "teardown-links", "teardown-fq"}},
        {"run",
         {"cgroup-recorded", "cgroup-made", "exec-forked", "session-recorded", "attached", "teardown-links",
          "cgroup-removed"}},
    };
    KillTally named, random;
    for (const auto& [which, list] : points)
        for (const auto& point : list)
            one(named, which, point, std::nullopt);
    // Under QEMU TCG a round costs seconds: one per command there.
    int rounds = std::atoi(env_or("FL_KILL_ROUNDS", getenv("FL_VM_TCG") ? "1" : "3").c_str());
    std::mt19937 rng(static_cast<unsigned>(getpid()));
    std::uniform_int_distribution<int> at(0, 1500);
    for (const std::string which : {"exec", "inject", "run"})
        for (int i = 0; i < rounds; i++)
            one(random, which, "", std::chrono::milliseconds(at(rng)));
    std::cout << "kill at named steps: " << named.summary() << "\nkill at random moments: " << random.summary()
              << std::endl;
    // The fault classes in the session, for the record.
    std::string classes;
    for (size_t i = 1; i < faults().size(); i += 2)
        classes += faults()[i] + " ";
    std::cout << "faults: " << classes << std::endl;
    EXPECT_EQ(named.leftovers + random.leftovers, 0);
    // Most named points must really have been reached (a point a kernel's
    // features skip, such as fq without sch_fq, exits normally instead).
    EXPECT_GE(named.kills, 12) << named.summary();
}

// --- fq qdiscs: a guest that shares and cleans up ---------------------------

namespace {

// p50 RTT in ms of a UDP ping from the target (namespace a) to an echo in b.
double ping_p50_ms(const NetLab& lab, const std::string& cgroup) {
    Proc echo(lab.in(lab.b, {traffic, "udp-echo", "9200", "1500", "20000"}));
    EXPECT_TRUE(echo.wait_for("ready", 5s));
    Proc ping(lab.in(lab.a, {traffic, "udp-ping", "198.18.0.2", "9200", "20", "2000"}), cgroup);
    EXPECT_EQ(ping.wait(30s), 0);
    std::istringstream in(ping.out());
    std::string k;
    double p50 = -1;
    while (in >> k)
        if (k == "p50_us")
            in >> p50;
    return p50 / 1000;
}

} // namespace

TEST_F(Safety, DelayInTheHostNamespaceNeedsItsDevicesNamed) {
    REQUIRE_FAULT("net.delay");
    auto r = sh(fl + " exec --fault net.delay=10ms@1% -- true 2>&1");
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("only on devices you name"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("hint: add dev="), std::string::npos) << r.out;
    EXPECT_EQ(new_leftovers(ready_), "");
    // With cidr=, the routing table names the device (a local address: lo),
    // and only that one gets fq, for the session's life.
    const std::string before = sh("tc qdisc show").out;
    r = sh(fl + " exec --fault net.delay=10ms@1%,cidr=127.0.0.1/32 -- sh -c 'tc qdisc show dev lo' 2>&1");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("sch_fq on lo, the device the routing table sends 127.0.0.1/32 by"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("qdisc fq f17e: root"), std::string::npos) << r.out;
    EXPECT_EQ(sh("tc qdisc show").out, before);
    EXPECT_EQ(new_leftovers(ready_), "");
}

// Two delay sessions on the same devices, ending in either order, or the
// second killed: the survivor's packets stay delayed (50 ms on every UDP
// packet to the echo: p50 of 20 pings >= 45 ms), and once the last one has
// ended the namespace's qdiscs are what they were before.
TEST_F(Safety, TwoDelaySessionsShareOneFqAndTheLastRemovesIt) {
    REQUIRE_FAULT("net.delay");
    auto tree = [&] { return sh("tc -n " + lab_->a + " qdisc show").out; };
    const std::string before = tree();
    auto start = [&] {
        auto p = std::make_unique<Proc>(std::vector<std::string>{fl, "inject", "--quiet", "--for", "60s", "--netns",
                                                                 lab_->a, "--cgroup", target_->path(), "--fault",
                                                                 "net.delay=50ms@100%,proto=udp,port=9200"},
                                        "", true);
        EXPECT_TRUE(p->wait_for("Ctrl-C", 10s)) << p->out();
        return p;
    };
    for (const std::string order : {"first-ends-first", "second-ends-first", "second-killed"}) {
        SCOPED_TRACE(order);
        auto x = start();
        auto y = start();
        EXPECT_NE(tree().find("qdisc fq f17e: dev " + lab_->dev_a() + " root"), std::string::npos) << tree();
        Proc* first = order == "first-ends-first" ? x.get() : y.get();
        Proc* survivor = first == x.get() ? y.get() : x.get();
        kill(first->pid(), order == "second-killed" ? SIGKILL : SIGTERM);
        first->wait(10s);
        std::this_thread::sleep_for(1500ms); // the survivor renews (and would end if its fq were gone)
        EXPECT_EQ(waitpid(survivor->pid(), nullptr, WNOHANG), 0) << survivor->out();
        EXPECT_NE(tree().find("qdisc fq f17e: dev " + lab_->dev_a() + " root"), std::string::npos) << tree();
        EXPECT_GE(ping_p50_ms(*lab_, target_->path()), 45.0) << "the survivor's delays stopped";
        kill(survivor->pid(), SIGTERM);
        EXPECT_EQ(survivor->wait(20s), 0) << survivor->out();
        EXPECT_EQ(tree(), before);
        EXPECT_LT(ping_p50_ms(*lab_, target_->path()), 45.0);
    }
    EXPECT_EQ(new_leftovers(ready_), "");
}

// The delay is set up in namespace b (--netns b: fq on b's devices) while
// the target's packets leave from namespace a: none is held. The kernel
// counts them as not held, never as injected; the loader says so within a
// renewal and names the namespace to give; and the pings' RTT confirms that
// nothing was delayed. Given the right namespace, the same fault is held
// (p50 >= 45 ms of 50) and counted as injected.
TEST_F(Safety, ADelayOnPacketsThatLeaveElsewhereIsCountedAsNotHeldAndSaid) {
    REQUIRE_FAULT("net.delay");
    auto run = [&](const std::string& netns, double* p50) {
        Proc p({fl, "inject", "--quiet", "--for", "60s", "--netns", netns, "--cgroup", target_->path(), "--fault",
                "net.delay=50ms@100%,proto=udp,port=9200"},
               "", true);
        EXPECT_TRUE(p.wait_for("Ctrl-C", 10s)) << p.out();
        *p50 = ping_p50_ms(*lab_, target_->path());
        std::this_thread::sleep_for(1200ms); // one renewal after the last ping
        kill(p.pid(), SIGTERM);
        EXPECT_EQ(p.wait(20s), 0) << p.out();
        return p.out();
    };
    double p50 = 0;
    std::string out = run(lab_->b, &p50);
    EXPECT_LT(p50, 45.0) << "delayed although no fq was on the way";
    EXPECT_NE(out.find("delays not held: the target's packets leave by ifindex"), std::string::npos) << out;
    EXPECT_NE(out.find("hint: give the target's namespace: --netns " + lab_->a), std::string::npos) << out;
    EXPECT_NE(out.find(" injected 0 ("), std::string::npos) << out;
    EXPECT_NE(out.find(" not-held "), std::string::npos) << out;

    out = run(lab_->a, &p50);
    EXPECT_GE(p50, 45.0) << out;
    EXPECT_EQ(out.find("not held"), std::string::npos) << out;
    EXPECT_EQ(out.find("not-held"), std::string::npos) << out;
    EXPECT_EQ(out.find(" injected 0 ("), std::string::npos) << out;
    EXPECT_EQ(new_leftovers(ready_), "");
}

// A multiqueue device (a veth with 4 TX queues under an mq root, each
// queue with the qdisc the kernel made) keeps its mq root: fq goes under
// every queue, the delay is held (p50 >= 45 ms of 50), and when the loader
// ends (SIGTERM), or is killed (SIGKILL: its sentinel), the tree is exactly
// what it was (the mq root made again with its handle, the kernel's own
// qdisc under every queue).
TEST_F(Safety, AMultiqueueDeviceKeepsItsMqRootAndGetsItsQueuesBack) {
    REQUIRE_FAULT("net.delay");
    auto lab = std::make_unique<NetLab>(4, "m");
    NetLab& mq = *lab;
    ASSERT_TRUE(mq.ok());
    ASSERT_EQ(sh("tc -n " + mq.a + " qdisc add dev " + mq.dev_a() + " root handle 1: mq 2>&1").status, 0);
    auto tree = [&] { return sh("tc -n " + mq.a + " qdisc show dev " + mq.dev_a()).out; };
    auto sorted = [&] { // the tree, in an order of its own (the kernel lists queues in hash order)
        std::istringstream in(tree());
        std::vector<std::string> lines;
        for (std::string line; std::getline(in, line);)
            lines.push_back(line);
        std::sort(lines.begin(), lines.end());
        std::string out;
        for (const auto& l : lines)
            out += l + "\n";
        return out;
    };
    const std::string before = sorted();
    ASSERT_NE(before.find("qdisc mq 1: root"), std::string::npos) << before;
    ASSERT_NE(before.find("parent 1:4"), std::string::npos) << before;
    for (int sig : {SIGTERM, SIGKILL}) {
        SCOPED_TRACE(sig == SIGTERM ? "SIGTERM" : "SIGKILL");
        Proc p({fl, "inject", "--quiet", "--for", "60s", "--netns", mq.a, "--cgroup", target_->path(), "--fault",
                "net.delay=50ms@100%,proto=udp,port=9200"},
               "", true);
        ASSERT_TRUE(p.wait_for("Ctrl-C", 10s)) << p.out();
        std::string during = tree();
        EXPECT_NE(during.find("qdisc mq 1: root"), std::string::npos) << during;
        for (int q = 1; q <= 4; q++)
            EXPECT_NE(during.find(fmt::format(" parent 1:{} ", q)), std::string::npos) << during;
        EXPECT_EQ(std::count(during.begin(), during.end(), '\n'), 5) << during;
        size_t fqs = 0;
        for (size_t at = during.find("qdisc fq e"); at != std::string::npos; at = during.find("qdisc fq e", at + 1))
            fqs++;
        EXPECT_EQ(fqs, 4u) << during;
        EXPECT_GE(ping_p50_ms(mq, target_->path()), 45.0) << "not held under the mq root";
        kill(p.pid(), sig);
        p.wait(20s);
        std::string after;
        for (int i = 0; i < 30 && (after = sorted()) != before; i++) // the sentinel's bound: 2 s
            std::this_thread::sleep_for(100ms);
        EXPECT_EQ(after, before);
        EXPECT_LT(ping_p50_ms(mq, target_->path()), 45.0);
    }
    lab.reset();
    EXPECT_EQ(new_leftovers(ready_), "");
}

// An fq removed under a delay session ends it with an error (its delays
// would no longer be held) instead of counting delays that do not happen.
TEST_F(Safety, ADelaySessionWhoseFqIsRemovedEndsWithAnError) {
    REQUIRE_FAULT("net.delay");
    Proc p({fl, "inject", "--quiet", "--for", "60s", "--netns", lab_->a, "--cgroup", target_->path(), "--fault",
            "net.delay=10ms@1%,cidr=198.19.255.254/32"},
           "", true);
    ASSERT_TRUE(p.wait_for("Ctrl-C", 10s)) << p.out();
    ASSERT_EQ(sh("tc -n " + lab_->a + " qdisc del dev " + lab_->dev_a() + " root").status, 0);
    EXPECT_EQ(p.wait(10s), 1) << p.out();
    EXPECT_NE(p.out().find("was removed while session"), std::string::npos) << p.out();
    EXPECT_EQ(new_leftovers(ready_), "");
}

// --- the sentinel, status and gc, and the records ----------------------------

// A killed sentinel ends its loader's session (nothing would clean up after
// a kill otherwise); with both killed at once, `status` shows the dead
// session and removes nothing, and `gc` removes what it left.
TEST_F(Safety, StatusOnlyReadsAndGcRemovesWhatNoSentinelCouldRemove) {
    REQUIRE_FAULT("net.drop");
    auto sentinel_of = [](pid_t loader) {
        auto r = sh(fmt::format("for d in /proc/[0-9]*; do read -r c < $d/comm; [ \"$c\" = fl-sentinel ] && "
                                "[ \"$(cut -d' ' -f4 $d/stat)\" = {} ] && echo ${{d#/proc/}}; done 2>/dev/null; true",
                                loader));
        return r.out.empty() ? 0 : std::stoi(r.out);
    };
    {
        Proc p({fl, "exec", "--fault", "net.drop@1%,cidr=198.19.255.254/32", "--", "sleep", "30"}, "", true);
        ASSERT_TRUE(p.wait_for("faultline: session", 10s)) << p.out();
        pid_t s = sentinel_of(p.pid());
        ASSERT_GT(s, 0);
        kill(s, SIGKILL);
        EXPECT_EQ(p.wait(10s), 1) << p.out();
        EXPECT_NE(p.out().find("the sentinel (pid"), std::string::npos) << p.out();
        EXPECT_EQ(new_leftovers(ready_), "") << "the loader cleans up itself when its sentinel dies";
    }
    Proc p({fl, "exec", "--fault", "net.drop@1%,cidr=198.19.255.254/32", "--", "sleep", "30"}, "", true);
    ASSERT_TRUE(p.wait_for("faultline: session", 10s)) << p.out();
    pid_t s = sentinel_of(p.pid());
    ASSERT_GT(s, 0);
    kill(s, SIGKILL);
    kill(p.pid(), SIGKILL);
    p.wait(10s);
    auto st = sh(fl + " status 2>&1");
    EXPECT_EQ(st.status, 0) << st.out;
    EXPECT_NE(st.out.find("(dead: `faultline gc` removes what it left)"), std::string::npos) << st.out;
    auto cg = sh(fmt::format("ls -d {}/faultline-exec-{}", root_, p.pid()));
    EXPECT_EQ(cg.status, 0) << "status removed the dead session's cgroup";
    auto gc = sh(fl + " gc 2>&1");
    EXPECT_EQ(gc.status, 0) << gc.out;
    EXPECT_NE(gc.out.find(fmt::format("removed cgroup {}/faultline-exec-{}", root_, p.pid())), std::string::npos)
        << gc.out;
    EXPECT_EQ(new_leftovers(ready_), "");
}

// A record's temporary file whose writer died between open and rename is
// removed as soon as the writer is a zombie, not only once its parent has
// waited for it: a sentinel reaps at that moment (a SIGKILLed loader whose
// parent had not yet waited left one behind in a CI run of the kill test),
// and a live writer's is left alone.
TEST_F(Safety, ATemporaryRecordOfADeadWriterIsRemovedEvenWhileItIsAZombie) {
    std::string dir = "/run/faultline";
    mkdir(dir.c_str(), 0700);
    pid_t zombie = fork();
    ASSERT_GE(zombie, 0);
    if (zombie == 0)
        _exit(0);
    // not waited for yet: a zombie until the end of the test
    for (int i = 0; i < 200 && sh(fmt::format("grep -q '^State:.Z' /proc/{}/status", zombie)).status != 0; i++)
        std::this_thread::sleep_for(5ms);
    Proc live({"sleep", "30"});
    const std::string dead_tmp = fmt::format("{}/.0badc0de.{}.tmp", dir, zombie);
    const std::string live_tmp = fmt::format("{}/.0badc0df.{}.tmp", dir, live.pid());
    std::ofstream(dead_tmp) << "{";
    std::ofstream(live_tmp) << "{";
    auto r = sh(fl + " gc 2>&1");
    EXPECT_EQ(r.status, 0) << r.out;
    struct stat st {};
    EXPECT_NE(stat(dead_tmp.c_str(), &st), 0) << "the zombie writer's file is still there\n" << r.out;
    EXPECT_EQ(stat(live_tmp.c_str(), &st), 0) << "a live writer's file was removed\n" << r.out;
    std::remove(live_tmp.c_str());
    std::remove(dead_tmp.c_str());
    waitpid(zombie, nullptr, 0);
}

// Records are read defensively: a symlink, a FIFO, a file open to others, a
// name that is not its id and a record naming a cgroup faultline did not
// make are all left alone, and reading them never blocks.
// The path part of the bad-input catalogue (issue 12): targets, namespaces
// and files that are something else. Each is refused (exit 2) with one
// error: and one hint: line, at once (a FIFO must not hold faultline in
// open(), where it also ignores Ctrl-C), and nothing is attached. It found
// a FIFO as --netns, experiment file or journal hanging faultline, /dev/zero
// read without end by `report`, and a mount namespace or a directory taken
// as --netns.
TEST_F(Safety, PathsThatAreSomethingElseAreRefusedAtOnceAndNothingIsAttached) {
    const std::string dir = "/tmp/fl-it-paths-" + std::to_string(getpid());
    // C calls, not commands: the VMs' initramfs has no mkfifo or ln.
    sh("rm -rf " + dir);
    ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
    ASSERT_EQ(mkfifo((dir + "/fifo").c_str(), 0644), 0);
    ASSERT_EQ(symlink("/tmp", (dir + "/link").c_str()), 0);
    std::ofstream(dir + "/x.yaml") << "title: t\ntarget: {cgroup: " << target_->path()
                                   << "}\nsteps: [{faults: net.drop@1%, duration: 1s}]\n";
    Proc gone({"true"});
    const int dead = gone.pid();
    gone.wait();
    const std::string tgt = target_->path(), f = " --fault net.drop@1% --for 5s";
    struct Case {
        std::string args, says;
    };
    std::vector<Case> cases = {
        {"inject --cgroup /" + f, "root of the cgroup v2 hierarchy"},
        {"inject --cgroup " + tgt + "/.." + f, "refusing to target"},
        {"inject --cgroup " + dir + "/link" + f, "not a cgroup v2 directory"},
        {"inject --cgroup " + dir + "/fifo" + f, "not a cgroup v2 directory"},
        {"inject --cgroup " + tgt + "/cgroup.procs" + f, "not a cgroup v2 directory"},
        {"inject --cgroup /proc/self" + f, "not a cgroup v2 directory"},
        {"inject --cgroup " + tgt + "/" + std::string(5000, 'a') + f, "does not exist"},
        {"inject --cgroup " + tgt + " --netns /proc/" + std::to_string(dead) + "/ns/net" + f, "does not exist"},
        {"inject --cgroup " + tgt + " --netns " + dir + "/fifo" + f, "is not a network namespace"},
        {"inject --cgroup " + tgt + " --netns /proc/self/ns/mnt" + f, "is not a network namespace"},
        {"inject --cgroup " + tgt + " --netns /tmp" + f, "is not a network namespace"},
        {"inject --cgroup " + tgt + " --stats-json /tmp" + f, "something other than a regular file"},
        {"inject --cgroup " + tgt + " --stats-json " + dir + "/fifo" + f, "something other than a regular file"},
        {"inject --cgroup " + tgt + " --stats-json " + dir + "/link" + f, "something other than a regular file"},
        {"inject --cgroup " + tgt + " --stats-json /nonexistent/x.json" + f, "cannot create it"},
        {"run " + dir + "/fifo", "is a FIFO, not a file"},
        {"run --dry-run /dev/zero", "is a device, not a file"},
        {"run --dry-run /tmp", "is a directory, not a file"},
        {"run --dry-run " + dir + "/nonexistent.yaml", "cannot read experiment file"},
        {"report " + dir + "/fifo", "is a FIFO, not a file"},
        {"report /dev/zero", "is a device, not a file"},
        {"report /tmp", "is a directory, not a file"},
    };
    // A journal is checked after the kernel's support of the file's faults
    // (Debian 11's 5.10 refuses net.drop first, exit 3).
    if (support("net.drop").available)
        cases.push_back({"run --journal " + dir + "/fifo " + dir + "/x.yaml", "something other than a regular file"});
    for (const auto& c : cases) {
        auto r = sh("timeout -k 5 30 " + fl + " " + c.args + " 2>&1");
        EXPECT_EQ(r.status, 2) << c.args.substr(0, 200) << "\n" << r.out.substr(0, 500);
        EXPECT_NE(r.out.find(c.says), std::string::npos) << c.args.substr(0, 200) << "\n" << r.out.substr(0, 500);
        auto count = [&](const std::string& what) {
            size_t n = 0;
            for (size_t at = r.out.find(what); at != std::string::npos; at = r.out.find(what, at + 1))
                n++;
            return n;
        };
        EXPECT_EQ(count("error: "), 1u) << c.args.substr(0, 200) << "\n" << r.out.substr(0, 500);
        EXPECT_EQ(count("hint: "), 1u) << c.args.substr(0, 200) << "\n" << r.out.substr(0, 500);
        EXPECT_EQ(new_leftovers(ready_), "") << c.args.substr(0, 200);
    }
    sh("rm -rf " + dir);
}

TEST_F(Safety, ForeignAndForgedRecordsAreLeftAlone) {
    ScratchCgroup victim(root_, "fl-it-victim-" + std::to_string(getpid()));
    Proc sleeper({"sleep", "30"}, victim.path());
    std::string dir = "/run/faultline";
    mkdir(dir.c_str(), 0700);
    std::string forged =
        fmt::format(R"({{"id":"0badc0de","pid":999999,"pid_start":1,"cgroup":"/","cgroup_id":1,"config_map_id":1,)"
                    R"("counters_map_id":2,"started_unix":1,"ends_unix":0,"experiments":[],"fq_devices":[],"netns":"",)"
                    R"("netns_ino":0,"created_cgroup":"{}","created_cgroup_ino":0,"tc_filters":[]}})",
                    victim.path());
    std::string victim_file = "/tmp/faultline-it-victim-" + std::to_string(getpid());
    std::ofstream(victim_file) << forged;
    std::vector<std::string> planted = {dir + "/0badc0de.json", dir + "/0badc0d1.json", dir + "/0badc0d2.json",
                                        dir + "/0badc0d3.json", dir + "/0badc0d4.json"};
    std::ofstream(planted[0]) << forged; // names a cgroup that is not faultline-KIND-PID
    EXPECT_EQ(chmod(planted[0].c_str(), 0600), 0);
    EXPECT_EQ(symlink(victim_file.c_str(), planted[1].c_str()), 0); // a symlink
    EXPECT_EQ(mkfifo(planted[2].c_str(), 0600), 0);                 // would block a plain open
    std::ofstream(planted[3]) << forged;                            // open to others
    EXPECT_EQ(chmod(planted[3].c_str(), 0644), 0);
    std::ofstream(planted[4]) << forged; // its id is not its name
    EXPECT_EQ(chmod(planted[4].c_str(), 0600), 0);
    auto st = sh("timeout 10 " + fl + " status 2>&1");
    EXPECT_EQ(st.status, 0) << st.out;
    auto gc = sh("timeout 10 " + fl + " gc 2>&1");
    EXPECT_EQ(gc.status, 0) << gc.out;
    for (size_t i = 1; i < planted.size(); i++)
        EXPECT_NE(gc.out.find("left alone " + planted[i]), std::string::npos) << planted[i] << "\n" << gc.out;
    struct stat sb {};
    EXPECT_EQ(stat(victim.path().c_str(), &sb), 0) << "gc removed a cgroup faultline did not make";
    EXPECT_EQ(waitpid(sleeper.pid(), nullptr, WNOHANG), 0) << "gc killed a process faultline did not start";
    EXPECT_EQ(sh("cat " + victim_file).out, forged) << "the symlink's target was changed";
    for (const auto& f : planted)
        unlink(f.c_str());
    std::remove(victim_file.c_str());
}
