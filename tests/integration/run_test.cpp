// SPDX-License-Identifier: Apache-2.0
// `faultline run` and `faultline report` end to end, as root: experiment
// files against real traffic between two network namespaces, a probe that
// breaks on cue, SIGKILL in the middle of a run.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fstream>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>

#include "../support/integration.hpp"
#include "../support/lab.hpp"
#include "../support/stats.hpp"
#include "faultline/cgroup.hpp"
#include "faultline/probe.hpp"

using namespace faultline;
using namespace faultline::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::vector<json> read_journal(const std::string& path) {
    std::vector<json> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        json j = json::parse(line, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << "not a JSON line: " << line;
        out.push_back(j);
    }
    return out;
}

// GET http://127.0.0.1:PORT/PATH, the whole response; "" on error or after
// 5 s (the endpoint closes the connection after answering).
std::string http_get(int port, const std::string& path) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{.tv_sec = 5, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        std::string req = "GET " + path + " HTTP/1.0\r\n\r\n";
        if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
            char buf[4096];
            ssize_t n;
            while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
                out.append(buf, static_cast<size_t>(n));
        }
    }
    close(fd);
    return out;
}

class Run : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0)
            GTEST_SKIP() << "needs root (network namespaces, cgroups, BPF)";
        REQUIRE_FAULT("net.drop");
        before_ = faultline_objects();
        lab_ = std::make_unique<NetLab>();
        ASSERT_TRUE(lab_->ok()) << "could not build the veth lab";
        dir_ = "/tmp/faultline-run-it-" + std::to_string(getpid());
        mkdir(dir_.c_str(), 0700);
        target_ = std::make_unique<ScratchCgroup>(cgroup2_mount(), "faultline-it-run-" + std::to_string(getpid()));
        ready_ = faultline_objects();
    }
    void TearDown() override {
        if (!lab_)
            return;
        target_.reset();
        lab_.reset();
        sh("rm -rf " + dir_);
        EXPECT_EQ(new_leftovers(before_), "") << "left behind";
    }
    std::string write(const std::string& name, const std::string& text) {
        std::string p = dir_ + "/" + name;
        std::ofstream(p) << text;
        return p;
    }
    // Receiver in b for the target's datagrams (bounded).
    std::unique_ptr<Proc> receiver(int max_ms) {
        auto r =
            std::make_unique<Proc>(lab_->in(lab_->b, {traffic, "udp-recv", "9000", "3000", std::to_string(max_ms)}));
        EXPECT_TRUE(r->wait_for("ready", 5s));
        return r;
    }

    std::unique_ptr<NetLab> lab_;
    std::unique_ptr<ScratchCgroup> target_;
    std::string dir_;
    std::set<std::string> before_; // before SetUp: checked in TearDown
    std::set<std::string> ready_;  // after SetUp: checked within a test
};

} // namespace

TEST_F(Run, RampRaisesThePercentageOnScheduleAndTheJournalHasEveryStep) {
    // A real UDP sender (the exec target, in namespace a) at 10,000 datagrams/s;
    // the ramp 1% -> 3% -> 5% takes 2 s per percentage, so each is checked
    // on ~20,000 datagrams (fewer under QEMU: the test uses whatever
    // matched) with the exact binomial test at alpha 1e-6.
    auto rx = receiver(60000);
    // The probe (`sh -c true`) only has to be healthy. Under QEMU TCG the
    // sender spins on one vCPU and the step's program load takes the other:
    // a fork+exec there can take over 400 ms (two of eight VM runs in one
    // session), so the VMs give it 900 ms every second.
    const bool tcg = getenv("FL_VM_TCG") != nullptr;
    const std::string probe_interval = tcg ? "1s" : "500ms", probe_timeout = tcg ? "900ms" : "400ms";
    std::string file = write("ramp.yaml", fmt::format(R"(title: ramp test
hypothesis: nothing breaks
target:
  exec: [{}, udp-send, 198.18.0.2, "9000", "400000", "1", "10000"]
netns: {}
steps:
  - name: warm-up
    faults: []
    duration: 1s
  - name: ramp
    ramp:
      fault: net.drop,proto=udp
      from: 1%
      to: 5%
      steps: 3
      over: 6s
steady_state:
  command: "true"
  interval: {}
  timeout: {}
)",
                                                      traffic, lab_->a, probe_interval, probe_timeout));
    std::string journal = dir_ + "/ramp.jsonl";
    auto r = sh(fmt::format("{} run --journal {} {} 2>&1", fl, journal, file));
    ASSERT_EQ(r.status, 0) << r.out;
    rx.reset();

    auto ev = read_journal(journal);
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev.front()["event"], "start");
    EXPECT_EQ(ev.back()["event"], "finish");
    std::vector<json> steps, percents, probes;
    for (const auto& e : ev) {
        if (e["event"] == "step")
            steps.push_back(e);
        if (e["event"] == "percent")
            percents.push_back(e);
        if (e["event"] == "probe")
            probes.push_back(e);
    }
    ASSERT_EQ(steps.size(), 2u);
    EXPECT_EQ(steps[0]["name"], "warm-up");
    EXPECT_EQ(steps[1]["name"], "ramp");
    ASSERT_EQ(percents.size(), 3u);
    // The ramp starts once the step's faults are live (loading the programs
    // takes ~0.5 s under QEMU TCG): the first percent event is its start.
    const double t_ramp = percents[0]["t"].get<double>();
    EXPECT_LT(t_ramp - steps[1]["t"].get<double>(), 5.0);
    for (int k = 0; k < 3; k++) {
        EXPECT_DOUBLE_EQ(percents[k]["percent"].get<double>(), 1.0 + 2.0 * k);
        // On schedule: 2 s apart, within the loop's 100 ms tick (+ slack for
        // a loaded machine).
        EXPECT_NEAR(percents[k]["t"].get<double>() - t_ramp, 2.0 * k, 0.5) << percents[k].dump();
    }
    EXPECT_GE(probes.size(), tcg ? 5u : 10u); // every 500 ms (TCG: 1 s) over 7 s
    for (const auto& p : probes)
        EXPECT_TRUE(p["ok"].get<bool>()) << p.dump();

    // Achieved rate per percentage, from the counters the run journaled
    // (a snapshot is taken just before each change).
    std::map<std::string, std::pair<uint64_t, uint64_t>> by_spec; // matched, injected deltas
    uint64_t pm = 0, pi = 0;
    for (const auto& e : ev) {
        if (e["event"] != "counters")
            continue;
        const auto& x = e["experiments"][0];
        uint64_t m = x["matched"], i = x["injected"];
        by_spec[x["spec"]].first += m - pm;
        by_spec[x["spec"]].second += i - pi;
        pm = m;
        pi = i;
    }
    for (int k = 0; k < 3; k++) {
        std::string spec = fmt::format("net.drop@{}%,proto=udp", 1 + 2 * k);
        auto [m, i] = by_spec[spec];
        ASSERT_GE(m, 1000u) << spec << ": too little traffic to judge";
        expect_binomial(i, m, (1 + 2 * k) / 100.0);
    }

    // The report: a summary naming every percentage, and the plot.
    auto rep = sh(fmt::format("{} report {} --plot {}/ramp.svg", fl, journal, dir_));
    ASSERT_EQ(rep.status, 0) << rep.out;
    for (int k = 0; k < 3; k++)
        EXPECT_NE(rep.out.find(fmt::format("net.drop@{}%,proto=udp: configured {}%", 1 + 2 * k, 1 + 2 * k)),
                  std::string::npos)
            << rep.out;
    EXPECT_NE(rep.out.find("hypothesis: held"), std::string::npos) << rep.out;
    std::ifstream svg(dir_ + "/ramp.svg");
    std::stringstream ss;
    ss << svg.rdbuf();
    EXPECT_EQ(ss.str().rfind("<svg", 0), 0u);
    EXPECT_NE(ss.str().find("<path"), std::string::npos);
}

TEST_F(Run, AFailingProbeAbortsWithinOneIntervalAndTheProbeTimeout) {
    // The probe fails once the flag file exists; 2 failures in a row abort.
    // Bound: the flag is seen by the next probe (<= 1 interval), the second
    // failure one interval later, each probe taking < its timeout: 2 x 500 ms
    // + 400 ms, plus 1.5 s for a loaded machine (or QEMU).
    std::string flag = dir_ + "/broken";
    std::string file = write("abort.yaml", fmt::format(R"(title: abort test
target:
  cgroup: {}
steps:
  - faults: net.drop@100%,proto=udp
    duration: 60s
steady_state:
  command: [/bin/sh, -c, "test ! -e {}"]
  interval: 500ms
  timeout: 400ms
  max_failures: 2
)",
                                                       target_->path(), flag));
    std::string journal = dir_ + "/abort.jsonl";
    Proc run({fl, "run", "--journal", journal, file}, "", true);
    ASSERT_TRUE(run.wait_for("step 1", 10s)) << run.out();
    // The fault is live: the target's datagrams vanish.
    {
        auto rx = receiver(3000);
        Proc tx(lab_->in(lab_->a, {traffic, "udp-send", "198.18.0.2", "9000", "200", "1", "20000"}), target_->path());
        ASSERT_EQ(tx.wait(), 0);
        ASSERT_EQ(rx->wait(), 0);
        EXPECT_EQ(rx->out().find("tag 1 "), std::string::npos) << rx->out();
    }
    auto t0 = std::chrono::steady_clock::now();
    std::ofstream(flag) << "x";
    int status = run.wait(30s);
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(status, 1) << run.out();
    EXPECT_LE(took, 2 * 0.5 + 0.4 + 1.5) << run.out();
    auto ev = read_journal(journal);
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev.back()["event"], "abort");
    EXPECT_EQ(ev.back()["reason"].get<std::string>().rfind("steady state lost: 2 failed probes in a row", 0), 0u)
        << ev.back().dump();
    // Nothing attached any more: the target's traffic passes.
    auto rx = receiver(60000);
    Proc tx(lab_->in(lab_->a, {traffic, "udp-send", "198.18.0.2", "9000", "500", "2", "20000"}), target_->path());
    ASSERT_EQ(tx.wait(), 0);
    ASSERT_EQ(rx->wait(), 0);
    EXPECT_NE(rx->out().find("tag 2 500"), std::string::npos) << rx->out();
    auto rep = sh(fmt::format("{} report {}", fl, journal));
    EXPECT_NE(rep.out.find("hypothesis: rejected"), std::string::npos) << rep.out;
}

TEST_F(Run, KilledRunLeavesNoFaultActive) {
    std::string file = write("kill.yaml", fmt::format(R"(title: kill test
target:
  cgroup: {}
steps:
  - faults: net.drop@100%,proto=udp
    duration: 60s
)",
                                                      target_->path()));
    Proc run({fl, "run", "--journal", dir_ + "/kill.jsonl", file}, "", true);
    ASSERT_TRUE(run.wait_for("step 1", 10s)) << run.out();
    ASSERT_TRUE(sh(fl + " status --json").out.find("net.drop@100%") != std::string::npos);
    kill(run.pid(), SIGKILL);
    run.wait(5s);
    // The next faultline command finds the dead run's session and reports
    // nothing active; the datagrams pass.
    auto st = sh(fl + " status --json");
    EXPECT_EQ(st.status, 0);
    EXPECT_EQ(json::parse(st.out).size(), 0u) << st.out;
    auto rx = receiver(60000);
    Proc tx(lab_->in(lab_->a, {traffic, "udp-send", "198.18.0.2", "9000", "500", "3", "20000"}), target_->path());
    ASSERT_EQ(tx.wait(), 0);
    ASSERT_EQ(rx->wait(), 0);
    EXPECT_NE(rx->out().find("tag 3 500"), std::string::npos) << rx->out();
    // The journal holds everything up to the kill, line by line.
    auto ev = read_journal(dir_ + "/kill.jsonl");
    ASSERT_GE(ev.size(), 2u);
    EXPECT_EQ(ev[0]["event"], "start");
    EXPECT_EQ(ev[1]["event"], "step");
    // and report summarizes it (it failed with a raw JSON error before)
    auto rep = sh(fmt::format("{} report {}/kill.jsonl --plot {}/kill.svg 2>&1", fl, dir_, dir_));
    EXPECT_EQ(rep.status, 0) << rep.out;
    EXPECT_NE(rep.out.find("faultline was killed?"), std::string::npos) << rep.out;
    EXPECT_NE(rep.out.find("hypothesis: inconclusive"), std::string::npos) << rep.out;
}

TEST_F(Run, TheFilesCommandsRunAsTheUserItNamesWithNoCapabilities) {
    // The exec target and the probe's command each check that they run as
    // uid 65534 with no effective capabilities: the target exits, or the
    // probe fails, otherwise, and either aborts the run (exit 1).
    const std::string check =
        R"(grep -q "^Uid:.65534.65534" /proc/self/status && grep -q "^CapEff:.0000000000000000" /proc/self/status)";
    std::string file = write("user.yaml", fmt::format(R"(title: user test
target:
  exec: [/bin/sh, -c, '{0} && exec sleep 30']
user: "65534"
steps:
  - faults: net.drop@1%,proto=udp
    duration: 2s
steady_state:
  command: [/bin/sh, -c, '{0}']
  interval: 1s
  timeout: 1s
  max_failures: 1
)",
                                                      check));
    auto r = sh(fmt::format("{} run --journal {}/user.jsonl {} 2>&1", fl, dir_, file));
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("its commands run as "), std::string::npos) << r.out;
    auto ev = read_journal(dir_ + "/user.jsonl");
    ASSERT_FALSE(ev.empty());
    EXPECT_NE(ev[0].value("commands_run_as", "").find("65534"), std::string::npos) << ev[0].dump();
    // --user overrides the file: as root, the checks fail and the run aborts
    r = sh(fmt::format("{} run --user root --journal {}/root.jsonl {} 2>&1", fl, dir_, file));
    EXPECT_EQ(r.status, 1) << r.out;
    r = sh(fmt::format("{} run --user fl-no-such-user --dry-run {} 2>&1", fl, file));
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("unknown user 'fl-no-such-user'"), std::string::npos) << r.out;
}

TEST_F(Run, ABadFileIsRefusedWithItsLineAndNothingIsAttached) {
    std::string file = write("bad.yaml", fmt::format(R"(title: bad
target:
  cgroup: {}
steps:
  - faults: net.drop@150%
    duration: 5s
)",
                                                     target_->path()));
    auto r = sh(fmt::format("{} run {} 2>&1", fl, file));
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find(file + ":5: steps[0].faults: "), std::string::npos) << r.out;
    EXPECT_EQ(new_leftovers(ready_), "");
    // And --dry-run on a good file attaches nothing either.
    std::string good = write("good.yaml", fmt::format(R"(title: good
target:
  cgroup: {}
steps:
  - faults: net.drop@1%
    duration: 5s
)",
                                                      target_->path()));
    auto d = sh(fmt::format("{} run --dry-run {} 2>&1", fl, good));
    EXPECT_EQ(d.status, 0) << d.out;
    EXPECT_NE(d.out.find("net.drop: cgroup_skb"), std::string::npos) << d.out;
    // The step's session plan: what would be attached, and where.
    EXPECT_NE(d.out.find("  attach cgroup_skb/egress to cgroup " + target_->path() + "\n"), std::string::npos) << d.out;
    EXPECT_NE(d.out.find("nothing was attached"), std::string::npos) << d.out;
    EXPECT_EQ(new_leftovers(ready_), "");
}

TEST_F(Run, ShadowRunCountsWhatWouldBeDroppedAndDropsNothing) {
    std::string file = write("shadow.yaml", fmt::format(R"(title: shadow test
target:
  cgroup: {}
steps:
  - faults: net.drop@100%,proto=udp
    duration: 4s
)",
                                                        target_->path()));
    std::string journal = dir_ + "/shadow.jsonl";
    Proc run({fl, "run", "--dry-run", "--shadow", "--journal", journal, file}, "", true);
    ASSERT_TRUE(run.wait_for("step 1", 10s)) << run.out();
    {
        auto rx = receiver(60000);
        Proc tx(lab_->in(lab_->a, {traffic, "udp-send", "198.18.0.2", "9000", "1000", "4", "20000"}), target_->path());
        ASSERT_EQ(tx.wait(), 0);
        ASSERT_EQ(rx->wait(), 0);
        EXPECT_NE(rx->out().find("tag 4 1000"), std::string::npos) << rx->out();
    }
    ASSERT_EQ(run.wait(30s), 0) << run.out();
    auto ev = read_journal(journal);
    ASSERT_FALSE(ev.empty());
    EXPECT_TRUE(ev.front()["shadow"].get<bool>());
    json last;
    for (const auto& e : ev)
        if (e["event"] == "counters")
            last = e["experiments"][0];
    ASSERT_FALSE(last.is_null());
    EXPECT_GE(last["injected"].get<uint64_t>(), 1000u); // would have dropped every datagram sent
    EXPECT_EQ(last["injected"], last["matched"]);
    auto rep = sh(fmt::format("{} report {}", fl, journal));
    EXPECT_NE(rep.out.find("shadow run: nothing was injected"), std::string::npos) << rep.out;
}

TEST_F(Run, MetricsEndpointServesLiveCounters) {
    const int port = 20000 + getpid() % 20000;
    std::string file = write("metrics.yaml", fmt::format(R"(title: "metrics \"test\""
target:
  cgroup: {}
steps:
  - faults: net.drop@100%,proto=udp
    duration: 30s
steady_state:
  command: "true"
  interval: 500ms
  timeout: 500ms
  max_failures: 1000
)",
                                                         target_->path()));
    // The probe is only here to be counted: a generous timeout and failure
    // budget, so a slow emulated CPU (QEMU TCG) cannot abort the run under
    // the test (an aborted run closes the endpoint: an empty reply).
    Proc run({fl, "run", "--metrics", fmt::format("127.0.0.1:{}", port), "--journal", dir_ + "/m.jsonl", file}, "",
             true);
    ASSERT_TRUE(run.wait_for("step 1", 10s)) << run.out();
    {
        auto rx = receiver(3000);
        Proc tx(lab_->in(lab_->a, {traffic, "udp-send", "198.18.0.2", "9000", "300", "5", "20000"}), target_->path());
        ASSERT_EQ(tx.wait(), 0);
        ASSERT_EQ(rx->wait(), 0);
    }
    std::this_thread::sleep_for(1500ms); // one snapshot later
    auto get = [&](const std::string& path) { return http_get(port, path); };
    std::string m = get("/metrics");
    EXPECT_EQ(m.rfind("HTTP/1.0 200 OK", 0), 0u) << m << "\nfaultline run said:\n" << run.out();
    EXPECT_NE(m.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << m;
    EXPECT_NE(m.find("# TYPE faultline_injected_total counter"), std::string::npos) << m;
    // The label value is escaped; 300 datagrams were dropped.
    std::string series = "faultline_injected_total{experiment=\"";
    size_t at = m.find(series);
    ASSERT_NE(at, std::string::npos) << m;
    std::string line = m.substr(at, m.find('\n', at) - at);
    EXPECT_NE(line.find("spec=\"net.drop@100%,proto=udp\",run=\"metrics \\\"test\\\"\"}"), std::string::npos) << line;
    EXPECT_GE(std::stoull(line.substr(line.rfind(' ') + 1)), 300u) << line;
    EXPECT_NE(m.find("faultline_run_step{run=\"metrics \\\"test\\\"\"} 1"), std::string::npos) << m;
    EXPECT_NE(m.find("faultline_probe_checks_total{run=\"metrics \\\"test\\\"\",result=\"ok\"} "), std::string::npos)
        << m;
    EXPECT_EQ(get("/other").rfind("HTTP/1.0 404", 0), 0u);
    kill(run.pid(), SIGTERM);
    EXPECT_EQ(run.wait(10s), 1) << run.out(); // SIGTERM aborts a run
    // A bad address is refused before anything is attached.
    auto bad = sh(fmt::format("{} run --metrics 127.0.0.1:99999 {} 2>&1", fl, file));
    EXPECT_EQ(bad.status, 2) << bad.out;
    EXPECT_NE(bad.out.find("is not a port"), std::string::npos) << bad.out;
    EXPECT_EQ(sh(fmt::format("ls {}/metrics-*.jsonl 2>/dev/null", dir_)).out, "") << "a journal was started";
}
