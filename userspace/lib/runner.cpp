// SPDX-License-Identifier: Apache-2.0
#include "faultline/runner.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <ctime>
#include <deque>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sched.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "faultline/cgroup.hpp"
#include "faultline/counters_text.hpp"
#include "faultline/crashpoint.hpp"
#include "faultline/error.hpp"
#include "faultline/metrics.hpp"
#include "faultline/output.hpp"
#include "faultline/plan.hpp"
#include "faultline/probe.hpp"
#include "faultline/qdisc.hpp"
#include "faultline/sentinel.hpp"
#include "faultline/session.hpp"
#include "faultline/state.hpp"
#include "faultline/steady_state.hpp"

namespace faultline {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string iso_utc(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

double seconds(Nanos d) {
    return std::chrono::duration<double>(d).count();
}

// One JSON object per line, flushed as it is written: a run that is killed
// keeps everything up to its last second.
// Each line is one write(2): a killed run cuts at most its last line.
class Journal {
  public:
    explicit Journal(const std::string& path) : out_(path, "--journal"), t0_(Clock::now()) {}
    // Never throws (it runs on the way out of an aborted run too): a write
    // that fails is said once, and the run goes on.
    void event(const std::string& name, json j = json::object()) {
        j["event"] = name;
        j["t"] = std::chrono::duration<double>(Clock::now() - t0_).count();
        j["ts"] = iso_utc(std::time(nullptr));
        try {
            out_.write(j.dump() + "\n");
        } catch (const Error& e) {
            if (!failed_)
                fmt::print(stderr, "faultline: warning: the journal stops here: {}\n", e.what());
            failed_ = true;
        }
    }
    double t() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

  private:
    OutputFile out_;
    Clock::time_point t0_;
    bool failed_ = false;
};

json spec_list(const std::vector<FaultSpec>& fs) {
    json a = json::array();
    for (const auto& f : fs)
        a.push_back(f.text);
    return a;
}

json probe_json(const SteadyState& s) {
    json j{{"interval_s", seconds(s.interval)}, {"timeout_s", seconds(s.timeout)}, {"max_failures", s.max_failures}};
    if (!s.http.empty())
        j["http"] = s.http;
    else
        j["command"] = s.command;
    return j;
}

// Runs the steady-state check every interval on its own thread; results are
// collected by the run loop.
class ProbeLoop {
  public:
    ProbeLoop(const SteadyState& s, RunAs as) : s_(s), as_(std::move(as)), th_([this] { loop(); }) {}
    ~ProbeLoop() {
        {
            std::lock_guard<std::mutex> l(m_);
            stop_ = true;
        }
        cv_.notify_all();
        th_.join();
    }
    std::deque<CheckResult> take() {
        std::lock_guard<std::mutex> l(m_);
        return std::exchange(results_, {});
    }

  private:
    void loop() {
        auto next = Clock::now();
        for (;;) {
            {
                std::unique_lock<std::mutex> l(m_);
                if (cv_.wait_until(l, next, [this] { return stop_; }))
                    return;
            }
            next += s_.interval;
            CheckResult r =
                s_.http.empty() ? check_command(s_.command, s_.timeout, as_) : check_http(s_.http, s_.timeout);
            std::lock_guard<std::mutex> l(m_);
            results_.push_back(std::move(r));
        }
    }

    SteadyState s_;
    RunAs as_;
    std::mutex m_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::deque<CheckResult> results_;
    std::thread th_;
};

// The exec target: CMD in a fresh cgroup, stopped (SIGTERM, then SIGKILL)
// at the end of the run.
class ExecTarget {
  public:
    ExecTarget(const std::vector<std::string>& argv, const std::string& netns, const RunAs& as)
        : cg_(cgroup2_mount(), "run") {
        pid_t parent = getpid();
        pid_ = fork();
        if (pid_ < 0)
            throw_errno("fork", errno);
        if (pid_ == 0) {
            sigset_t all;
            sigfillset(&all);
            sigprocmask(SIG_UNBLOCK, &all, nullptr);
            exec_in_cgroup(cg_.path(), netns, as, argv, parent);
        }
        crashpoint("exec-forked");
    }
    ~ExecTarget() {
        if (pid_ > 0 && !exited_) {
            kill(pid_, SIGTERM);
            for (int i = 0; i < 500 && waitpid(pid_, nullptr, WNOHANG) == 0; i++)
                usleep(10000);
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    } // then cg_ removes the cgroup (and kills what is left in it)
    const CgroupRef& ref() const { return cg_.ref(); }
    // The exit status text once it has exited, else "".
    std::string exited() {
        if (exited_)
            return status_;
        int st = 0;
        if (waitpid(pid_, &st, WNOHANG) != pid_)
            return "";
        exited_ = true;
        status_ = WIFEXITED(st) ? fmt::format("exited with status {}", WEXITSTATUS(st))
                                : fmt::format("was killed by signal {}", WTERMSIG(st));
        return status_;
    }
    pid_t pid() const { return pid_; }

  private:
    OwnedCgroup cg_; // recorded before it is made: removed by the sentinel if the run is killed
    pid_t pid_ = -1;
    bool exited_ = false;
    std::string status_;
};

sigset_t run_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD})
        sigaddset(&set, sig);
    return set;
}

struct Abort {
    std::string reason;
};

} // namespace

std::string default_journal_path(const std::string& file) {
    std::string base = file;
    if (size_t dot = base.rfind('.'); dot != std::string::npos && base.find('/', dot) == std::string::npos)
        base = base.substr(0, dot);
    std::tm tm{};
    std::time_t now = std::time(nullptr);
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return fmt::format("{}-{}.jsonl", base, buf);
}

namespace {

// The machine, but for an exec: target's cgroup, which does not exist before
// the run: it will have the controllers the root hands down.
class FreshCgroupEnvironment final : public Environment {
  public:
    explicit FreshCgroupEnvironment(std::string fresh) : fresh_(std::move(fresh)) {}
    std::string kernel() const override { return m_.kernel(); }
    FaultSupport support(const std::string& row) const override { return m_.support(row); }
    bool host_netns(const std::string& netns) const override { return m_.host_netns(netns); }
    std::vector<std::string> up_devices(const std::string& netns) const override { return m_.up_devices(netns); }
    std::string route_device(const Cidr& to, const std::string& netns) const override {
        return m_.route_device(to, netns);
    }
    bool ethernet_framing(const std::string& dev, const std::string& netns) const override {
        return m_.ethernet_framing(dev, netns);
    }
    std::set<std::string> controllers(const std::string& cgroup_path) const override {
        if (cgroup_path != fresh_ || access(fresh_.c_str(), F_OK) == 0)
            return m_.controllers(cgroup_path);
        std::ifstream in(cgroup2_mount() + "/cgroup.subtree_control");
        std::set<std::string> out;
        for (std::string c; in >> c;)
            out.insert(c);
        return out;
    }
    FileId file_id(const std::string& path) const override { return m_.file_id(path); }
    std::optional<std::pair<unsigned, unsigned>> block_device(const std::string& path) const override {
        return m_.block_device(path);
    }
    std::string mounted_on(unsigned major, unsigned minor) const override { return m_.mounted_on(major, minor); }
    Cache slab_cache(const std::string& name) const override { return m_.slab_cache(name); }

  private:
    const Environment& m_ = machine_environment();
    std::string fresh_;
};

} // namespace

std::string plan_text(const Experiment& x) {
    std::string out = fmt::format("experiment: {}\n", x.title);
    if (!x.hypothesis.empty())
        out += fmt::format("hypothesis: {}\n", x.hypothesis);
    if (!x.cgroup.empty()) {
        CgroupRef t = resolve_cgroup(x.cgroup);
        out += fmt::format("target: cgroup {} (id {}, depth {})\n", t.path, t.id, t.level);
    } else {
        std::string cmd;
        for (const auto& a : x.exec)
            cmd += (cmd.empty() ? "" : " ") + a;
        out += fmt::format("target: `{}`, started in a fresh cgroup {}/faultline-run-PID\n", cmd, cgroup2_mount());
    }
    if (!x.netns.empty())
        out += fmt::format("network namespace: {}\n", resolve_netns(x.netns));
    out += "kernel:\n";
    for (const auto& name : x.fault_names()) {
        require_support(name); // throws with the reason
        const auto& f = probe_fault(name);
        out += fmt::format("  {}: {}\n", f.fault, f.mechanism);
    }
    // Each step's session plan, as the session will carry it out: on the
    // named cgroup, or on the fresh one an exec: target gets (a child of the
    // root: its controllers are the root's subtree_control).
    CgroupRef target;
    if (!x.cgroup.empty())
        target = resolve_cgroup(x.cgroup);
    else
        target = {.path = cgroup2_mount() + "/faultline-run-PID", .level = 1};
    const FreshCgroupEnvironment env(target.path);
    const std::string netns = resolve_netns(x.netns);
    Nanos at{0};
    for (const auto& s : x.steps) {
        out += fmt::format("{} at +{} for {}:\n", s.name, format_duration(at), format_duration(s.duration));
        for (const auto& f : s.faults)
            out += fmt::format("  {}\n", f.text);
        if (s.ramp) {
            std::string pcts;
            for (int k = 0; k < s.ramp->steps; k++)
                pcts += (k ? " → " : "") + format_percent(s.ramp->percent_at(k));
            out += fmt::format("  {} ramped {} (every {})\n", s.ramp->fault.text, pcts,
                               format_duration(s.ramp->over / s.ramp->steps));
        }
        if (s.faults.empty() && !s.ramp)
            out += "  (no faults: a pause)\n";
        SessionOptions o{.target = target,
                         .faults = s.faults,
                         .seed = x.seed,
                         .duration = s.duration,
                         .netns = netns,
                         .allow_host_wide = x.allow_host_wide,
                         .force = x.force};
        if (s.ramp)
            o.faults.push_back(s.ramp->fault);
        if (!o.faults.empty())
            out += describe_plan(plan_session(o, env), o);
        at += s.duration;
    }
    if (x.steady_state) {
        const auto& p = *x.steady_state;
        std::string what = p.http.empty() ? "`" + p.command.back() + "`" : p.http;
        out += fmt::format("steady state: {} every {}, timeout {}; {} failures in a row abort\n", what,
                           format_duration(p.interval), format_duration(p.timeout), p.max_failures);
    }
    if (x.limits.max_injections)
        out += fmt::format("limit: {} injections in all\n", x.limits.max_injections);
    if (x.limits.max_duration.count())
        out += fmt::format("limit: {} in all\n", format_duration(x.limits.max_duration));
    return out;
}

RunResult run_experiment(const Experiment& x, const RunOptions& opts) {
    RunResult res;
    res.journal = opts.journal.empty() ? default_journal_path(x.file) : opts.journal;
    for (const auto& name : x.probe_names(opts.shadow)) // before anything starts
        require_support(name);
    std::optional<CgroupRef> cgroup_target;
    if (!x.cgroup.empty()) {
        cgroup_target = resolve_cgroup(x.cgroup);
        refuse_host_wide(*cgroup_target, x.allow_host_wide);
    }
    const std::string netns = resolve_netns(x.netns);
    // Who the commands run as (exec:, the probe's command:), looked up
    // before any fork or thread; an unknown user fails here.
    const RunAs run_as = resolve_run_as(opts.user.empty() ? x.user : opts.user);
    // A bad --metrics address fails here, before a journal or a target exists.
    std::unique_ptr<MetricsServer> metrics;
    if (!opts.metrics.empty())
        metrics = std::make_unique<MetricsServer>(opts.metrics, opts.metrics_public);

    Journal j(res.journal);
    auto say = [&](const std::string& s) {
        if (!opts.quiet)
            fmt::print(stderr, "faultline: [{:7.1f}s] {}\n", j.t(), s);
    };
    utsname u{};
    uname(&u);
    json start{{"title", x.title},
               {"hypothesis", x.hypothesis},
               {"file", x.file},
               {"kernel", u.release},
               {"planned_s", seconds(x.planned_duration())},
               {"shadow", opts.shadow}};
    json steps = json::array();
    for (const auto& s : x.steps) {
        json js{{"name", s.name}, {"faults", spec_list(s.faults)}, {"duration_s", seconds(s.duration)}};
        if (s.ramp)
            js["ramp"] = {
                {"fault", s.ramp->fault.text}, {"from", s.ramp->from}, {"to", s.ramp->to}, {"steps", s.ramp->steps}};
        steps.push_back(js);
    }
    start["steps"] = steps;
    if (x.steady_state)
        start["steady_state"] = probe_json(*x.steady_state);
    start["limits"] = {{"max_injections", x.limits.max_injections}, {"max_duration_s", seconds(x.limits.max_duration)}};

    std::unique_ptr<ExecTarget> exec;
    if (!x.exec.empty()) {
        exec = std::make_unique<ExecTarget>(x.exec, netns, run_as);
        start["target"] = {{"exec", x.exec}, {"cgroup", exec->ref().path}, {"pid", exec->pid()}};
    } else {
        start["target"] = {{"cgroup", cgroup_target->path}};
    }
    const CgroupRef target = exec ? exec->ref() : *cgroup_target;
    const bool commands = exec || (x.steady_state && !x.steady_state->command.empty());
    if (commands)
        start["commands_run_as"] = run_as.name;
    j.event("start", start);
    say(fmt::format("{} on {}{}", x.title, target.path, opts.shadow ? " (shadow: counted, never injected)" : ""));
    if (commands)
        say(fmt::format("its commands run as {}{}", run_as.name,
                        run_as.root() ? "" : " (no capabilities, no_new_privs)"));

    std::unique_ptr<ProbeLoop> probe;
    if (x.steady_state)
        probe = std::make_unique<ProbeLoop>(*x.steady_state, run_as);
    if (metrics)
        say(metrics->describe());
    uint64_t probes_ok = 0, probes_failed = 0;
    size_t step_index = 0;
    std::vector<ExperimentStats> last_stats; // of the step's session, for the endpoint
    auto publish = [&](const std::vector<ExperimentStats>& st) {
        if (!metrics)
            return;
        last_stats = st;
        std::vector<std::pair<std::string, std::string>> l = {{"run", x.title}};
        std::string t = prometheus_text(st, l);
        std::string run = prometheus_label("run", x.title);
        t += fmt::format("# HELP faultline_run_step The step running (1-based; 0 before the first).\n"
                         "# TYPE faultline_run_step gauge\nfaultline_run_step{{{}}} {}\n",
                         run, step_index);
        t += fmt::format("# HELP faultline_probe_checks_total Steady-state checks by result.\n"
                         "# TYPE faultline_probe_checks_total counter\n"
                         "faultline_probe_checks_total{{{},result=\"ok\"}} {}\n"
                         "faultline_probe_checks_total{{{},result=\"failed\"}} {}\n",
                         run, probes_ok, run, probes_failed);
        metrics->publish(std::move(t));
    };
    publish({});

    const sigset_t set = run_signals();
    const auto run_t0 = Clock::now();
    uint64_t injected_before = 0; // by finished steps
    int failures_in_row = 0;

    // Everything the loop watches, once per tick; throws Abort.
    auto watch = [&](Session* s, uint64_t& injected_now) {
        check_sentinel(); // in pauses too: the exec target's cgroup needs it
        timespec ts{.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
        int sig = sigtimedwait(&set, nullptr, &ts);
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
            throw Abort{fmt::format("signal {}", strsignal(sig))};
        if (exec) {
            if (auto st = exec->exited(); !st.empty())
                throw Abort{"the target command " + st};
        }
        if (probe) {
            auto results = probe->take();
            for (auto& r : results) {
                j.event("probe", {{"ok", r.ok}, {"latency_ms", r.latency_ms}, {"detail", r.detail}});
                (r.ok ? probes_ok : probes_failed)++;
                failures_in_row = r.ok ? 0 : failures_in_row + 1;
                if (failures_in_row >= x.steady_state->max_failures)
                    throw Abort{fmt::format("steady state lost: {} failed probes in a row (last: {})", failures_in_row,
                                            r.detail)};
            }
        }
        if (x.limits.max_duration.count() && Clock::now() - run_t0 >= x.limits.max_duration)
            throw Abort{fmt::format("limit: max_duration {} reached", format_duration(x.limits.max_duration))};
        if (s && x.limits.max_injections && injected_before + injected_now >= x.limits.max_injections)
            throw Abort{fmt::format("limit: {} injections reached", x.limits.max_injections)};
    };
    auto snapshot = [&](Session& s, uint64_t& injected_now) {
        auto st = s.stats();
        publish(st);
        injected_now = 0;
        for (const auto& e : st)
            injected_now += e.counters.injected;
        j.event("counters", {{"session", s.id()}, {"experiments", stats_json(st)}});
    };

    try {
        for (size_t i = 0; i < x.steps.size(); i++) {
            const Step& step = x.steps[i];
            step_index = i + 1;
            publish({});
            std::vector<FaultSpec> faults = step.faults;
            if (step.ramp)
                faults.push_back(step.ramp->fault);
            j.event("step", {{"index", i},
                             {"name", step.name},
                             {"faults", spec_list(faults)},
                             {"duration_s", seconds(step.duration)}});
            std::unique_ptr<Session> s;
            if (!faults.empty())
                s = std::make_unique<Session>(SessionOptions{.target = target,
                                                             .faults = faults,
                                                             .seed = x.seed,
                                                             .duration = step.duration,
                                                             .netns = netns,
                                                             .shadow = opts.shadow,
                                                             .allow_host_wide = x.allow_host_wide,
                                                             .force = x.force});
            if (s)
                for (const auto& n : s->notes())
                    say("note: " + n);
            // Printed once the faults are live (tests wait for this line).
            say(fmt::format("{}: {} for {}", step.name, faults.empty() ? "no faults" : spec_list(faults).dump(),
                            format_duration(step.duration)));
            const auto t0 = Clock::now(), end = t0 + step.duration;
            auto next_snapshot = t0 + std::chrono::seconds(1);
            int ramp_k = 0;
            uint64_t injected_now = 0;
            if (step.ramp)
                j.event("percent",
                        {{"fault", faults.back().text}, {"percent", step.ramp->from}, {"slot", faults.size() - 1}});
            // However the step ends, its last counters are taken after
            // its faults are disabled in the kernel, so that they are final
            // (an abort included: a stopped run's journal claims every
            // injection its target saw).
            auto last_counters = [&] {
                if (!s)
                    return;
                s->end();
                snapshot(*s, injected_now);
                injected_before += injected_now;
            };
            try {
                while (Clock::now() < end) {
                    watch(s.get(), injected_now);
                    auto now = Clock::now();
                    if (step.ramp) {
                        int k = static_cast<int>((now - t0) * step.ramp->steps / step.ramp->over);
                        k = std::min(k, step.ramp->steps - 1);
                        if (k != ramp_k) {
                            // Counters up to here belong to the old percentage.
                            snapshot(*s, injected_now);
                            ramp_k = k;
                            double p = step.ramp->percent_at(k);
                            s->set_percent(faults.size() - 1, p);
                            j.event("percent",
                                    {{"fault", s->stats().back().spec}, {"percent", p}, {"slot", faults.size() - 1}});
                            say(fmt::format("ramp: {}", format_percent(p)));
                        }
                    }
                    if (s && now >= next_snapshot) {
                        next_snapshot += std::chrono::seconds(1);
                        s->renew();
                        snapshot(*s, injected_now);
                    }
                }
            } catch (const Abort&) {
                last_counters();
                throw;
            }
            last_counters();
            if (s) {
                for (const auto& st : s->stats())
                    say(fmt::format("{} {}", step.name, stats_line(st)));
            }
        }
    } catch (const Abort& a) {
        res.aborted = true;
        res.reason = a.reason;
    } catch (const Error& e) {
        res.aborted = true;
        res.reason = fmt::format("error: {}", e.what());
    }
    // Every fault is gone by now (the step's Session ended with its scope).
    probe.reset();
    if (res.aborted) {
        j.event("abort", {{"reason", res.reason}, {"injected", injected_before}});
        say("aborted: " + res.reason + "; all faults removed");
    } else {
        j.event("finish", {{"injected", injected_before}});
        say("finished; all faults removed");
    }
    exec.reset();
    say("journal: " + res.journal);
    return res;
}

} // namespace faultline
