// SPDX-License-Identifier: Apache-2.0
// faultline command line. The only place that prints `error:`/`hint:` and
// chooses exit codes; everything else lives in the library.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <optional>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faultline/bpf.hpp"
#include "faultline/caps.hpp"
#include "faultline/cgroup.hpp"
#include "faultline/counters_text.hpp"
#include "faultline/crashpoint.hpp"
#include "faultline/demo.hpp"
#include "faultline/error.hpp"
#include "faultline/experiment.hpp"
#include "faultline/journal_report.hpp"
#include "faultline/metrics.hpp"
#include "faultline/output.hpp"
#include "faultline/probe.hpp"
#include "faultline/qdisc.hpp"
#include "faultline/runner.hpp"
#include "faultline/sentinel.hpp"
#include "faultline/session.hpp"
#include "faultline/spec.hpp"
#include "faultline/state.hpp"

using namespace faultline;

namespace {

// Exit codes (documented in --help and README).
constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;
constexpr int exit_unsupported = 3;
constexpr int exit_permission = 4;

// `inject` without --for: every session ends by itself.
constexpr Nanos default_inject_duration = std::chrono::minutes(10);

int exit_code(ErrorKind k) {
    switch (k) {
    case ErrorKind::usage:
        return exit_usage;
    case ErrorKind::unsupported:
        return exit_unsupported;
    case ErrorKind::permission:
        return exit_permission;
    case ErrorKind::system:
        return exit_failure;
    }
    return exit_failure;
}

struct FaultArgs {
    std::vector<std::string> faults;
    std::optional<uint64_t> seed;
    std::string duration;
    std::string stats_json;
    std::string netns;
    std::string metrics;
    bool metrics_public = false;
    bool quiet = false;
    bool allow_host_wide = false;
    bool force = false;
    std::string after; // exec only
    std::string user;  // exec only

    void add_to(CLI::App* app) {
        app->add_option("--fault,-f", faults, faults_usage())->required()->type_name("SPEC");
        app->add_option("--seed", seed,
                        "Make the draws reproducible: the n-th event of an experiment always gets "
                        "the same draw (decimal, or 0x hex)")
            ->transform(CLI::Validator(
                [](std::string& s) {
                    try {
                        s = std::to_string(parse_seed(s)); // CLI11 alone would read 010 as octal
                        return std::string();
                    } catch (const Error& e) {
                        return std::string(e.what());
                    }
                },
                "N", "seed"));
        app->add_option("--for", duration,
                        "Stop injecting after DURATION (e.g. 30s, 5m; 1ms to 7d), enforced in the kernel. Default: "
                        "inject 10m, exec the command's lifetime. `forever` (until stopped) only with "
                        "--allow-host-wide");
        app->add_flag("--allow-host-wide", allow_host_wide,
                      "Allow a target that reaches beyond one service: the cgroup v2 root, or a cgroup containing "
                      "faultline, the shell/sudo/sshd it was started from, or PID 1 (refused otherwise); also "
                      "allows --for forever");
        app->add_option("--stats-json", stats_json, "Write the final counters as JSON to FILE");
        app->add_option("--netns", netns,
                        "Network namespace (name from `ip netns`, or a path like /proc/PID/ns/net) where the "
                        "target's packets leave: net.delay installs sch_fq on its devices; exec runs CMD in it");
        app->add_option("--metrics", metrics,
                        "Serve live counters for Prometheus on [ADDR:]PORT, GET /metrics (ADDR defaults to "
                        "127.0.0.1)");
        app->add_flag("--metrics-public", metrics_public,
                      "Allow --metrics on an address other machines reach (refused otherwise: the counters name "
                      "the target and its faults)");
        app->add_flag("--quiet,-q", quiet, "No live counters");
        app->add_flag("--force", force,
                      "disk.bio: allow a device that backs a mounted file system (its metadata, flush and FUA bios "
                      "are never failed, but its data reads and writes are)");
    }

    std::vector<FaultSpec> parsed() const {
        std::vector<FaultSpec> out;
        for (const auto& f : faults)
            out.push_back(parse_fault(f));
        return out;
    }

    // nullopt: until stopped (exec: until the command ends).
    std::optional<Nanos> parsed_duration(std::optional<Nanos> fallback) const {
        if (duration.empty())
            return fallback;
        if (duration == "forever") {
            if (!allow_host_wide)
                throw Error(ErrorKind::usage, "--for forever needs --allow-host-wide",
                            "every session has a bounded lifetime unless you say otherwise: give a duration (1ms "
                            "to 7d), or add --allow-host-wide to run until stopped");
            return std::nullopt;
        }
        Nanos d = parse_duration(duration, "--for");
        if (d.count() <= 0 || d > max_duration)
            throw Error(ErrorKind::usage, fmt::format("--for {} is out of range", duration),
                        "--for takes a duration from 1ms to 7 days (168h)");
        return d;
    }
};

// --stats-json FILE, made before anything is attached (a bad path is
// refused then, not after the experiment).
std::unique_ptr<OutputFile> stats_file(const FaultArgs& a) {
    return a.stats_json.empty() ? nullptr : std::make_unique<OutputFile>(a.stats_json, "--stats-json");
}

void write_stats(const Session& s, OutputFile* file, bool to_stdout) {
    auto j = nlohmann::json{{"session", s.id()}, {"cgroup", s.target().path}, {"experiments", stats_json(s.stats())}};
    if (file)
        file->write(j.dump(2) + "\n");
    if (to_stdout)
        std::cout << j.dump(2) << std::endl;
}

void print_stats(const Session& s, FILE* to, const char* prefix) {
    for (const auto& st : s.stats())
        fmt::print(to, "{}{}  {}\n", prefix, st.id, stats_line(st));
}

void print_notes(const Session& s) {
    for (const auto& n : s.notes())
        fmt::print(stderr, "faultline: note: {}\n", n);
}

// Refuses a target beyond one service unless allowed; when allowed, says
// what it hits.
void check_target(const CgroupRef& target, bool allow_host_wide) {
    refuse_host_wide(target, allow_host_wide);
    for (const auto& why : host_wide_reasons(target))
        fmt::print(stderr, "faultline: warning: host-wide target ({}): every process in {} is hit\n", why, target.path);
}

// Blocks the signals the main loop waits for; children get them unblocked.
sigset_t waited_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD})
        sigaddset(&set, sig);
    return set;
}

// Waits up to `timeout` for one of the blocked signals. 0 on timeout.
int wait_signal(const sigset_t& set, Nanos timeout) {
    timespec ts{.tv_sec = static_cast<time_t>(timeout.count() / 1000000000),
                .tv_nsec = static_cast<long>(timeout.count() % 1000000000)};
    int sig = sigtimedwait(&set, nullptr, &ts);
    return sig < 0 ? 0 : sig;
}

int cmd_inject(const std::string& cgroup, const FaultArgs& a, bool json) {
    require_capabilities(attach_capabilities());
    reap_stale_sessions();
    auto faults = a.parsed();
    auto duration = a.parsed_duration(default_inject_duration);
    CgroupRef target = resolve_cgroup(cgroup);
    check_target(target, a.allow_host_wide);
    ensure_sentinel();
    // A bad --metrics address or --stats-json path fails here, before
    // anything is attached.
    std::unique_ptr<MetricsServer> metrics;
    if (!a.metrics.empty())
        metrics = std::make_unique<MetricsServer>(a.metrics, a.metrics_public);
    auto stats_out = stats_file(a);
    sigset_t set = waited_signals();
    sigprocmask(SIG_BLOCK, &set, nullptr);
    Session s({.target = target,
               .faults = faults,
               .seed = a.seed,
               .duration = duration,
               .netns = resolve_netns(a.netns),
               .allow_host_wide = a.allow_host_wide,
               .force = a.force});
    print_notes(s);
    fmt::print(stderr, "faultline: session {} on {} ({}); Ctrl-C stops it\n", s.id(), target.path,
               !duration            ? "until stopped"
               : a.duration.empty() ? "for " + format_duration(*duration) + ": the default; --for sets it"
                                    : "for " + format_duration(*duration));
    if (metrics) {
        metrics->publish(prometheus_text(s.stats(), {{"session", s.id()}}));
        fmt::print(stderr, "faultline: {}\n", metrics->describe());
    }
    bool live = !a.quiet && isatty(STDERR_FILENO);
    for (;;) {
        Nanos step = std::chrono::seconds(1);
        if (auto left = s.remaining()) {
            if (left->count() == 0)
                break;
            step = std::min(step, *left);
        }
        int sig = wait_signal(set, step);
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
            break;
        s.renew();
        if (metrics)
            metrics->publish(prometheus_text(s.stats(), {{"session", s.id()}}));
        if (live)
            print_stats(s, stderr, "  ");
    }
    s.end(); // the counters below are final
    fmt::print(stderr, "faultline: session {} ended; faults removed\n", s.id());
    print_stats(s, stderr, "  ");
    write_stats(s, stats_out.get(), json);
    return exit_ok;
}

int cmd_exec(const std::vector<std::string>& cmd, const FaultArgs& a, const std::string& parent_opt) {
    require_capabilities(attach_capabilities());
    reap_stale_sessions();
    if (cmd.empty())
        throw Error(ErrorKind::usage, "no command given", "usage: faultline exec --fault SPEC -- CMD [ARGS...]");
    auto faults = a.parsed();
    auto duration = a.parsed_duration(std::nullopt);
    std::optional<Nanos> after;
    if (!a.after.empty()) {
        after = parse_duration(a.after, "--after");
        if (after->count() < 0 || *after > max_duration)
            throw Error(ErrorKind::usage, fmt::format("--after {} is out of range", a.after),
                        "--after takes a duration from 0 to 7 days (168h)");
    }
    std::string parent = parent_opt.empty() ? cgroup2_mount() : resolve_cgroup(parent_opt).path;
    std::string netns = resolve_netns(a.netns);
    const RunAs as = resolve_run_as(a.user); // before the fork: it reads the user database
    ensure_sentinel();
    std::unique_ptr<MetricsServer> metrics; // a bad address fails before anything is attached
    if (!a.metrics.empty())
        metrics = std::make_unique<MetricsServer>(a.metrics, a.metrics_public);
    auto stats_out = stats_file(a);
    OwnedCgroup cg(parent, "exec");

    sigset_t set = waited_signals();
    sigprocmask(SIG_BLOCK, &set, nullptr);
    Session s(
        {.target = cg.ref(), .faults = faults, .seed = a.seed, .duration = duration, .netns = netns, .armed = !after});
    print_notes(s);
    if (!a.quiet)
        fmt::print(stderr, "faultline: session {} on {}{}\n", s.id(), cg.path(),
                   after ? fmt::format(" (faults start {} after the command)", format_duration(*after)) : "");
    if (!after && !a.quiet)
        for (const auto& f : faults)
            if (f.def->hook == FaultHook::file || f.def->hook == FaultHook::mem || f.def->hook == FaultHook::slab) {
                fmt::print(stderr,
                           "faultline: note: {} is live before the command starts: its exec and start-up can fail "
                           "too (--after DUR starts the faults once it runs)\n",
                           f.name());
                break;
            }
    if (metrics) {
        metrics->publish(prometheus_text(s.stats(), {{"session", s.id()}}));
        if (!a.quiet)
            fmt::print(stderr, "faultline: {}\n", metrics->describe());
    }

    pid_t self = getpid();
    pid_t child = fork();
    if (child < 0)
        throw_errno("fork", errno);
    if (child == 0) {
        sigprocmask(SIG_UNBLOCK, &set, nullptr);
        exec_in_cgroup(cg.path(), netns, as, cmd, self);
    }
    crashpoint("exec-forked");
    const uint64_t arm_at = monotonic_ns() + static_cast<uint64_t>(after ? after->count() : 0);

    int status = 0;
    for (;;) {
        Nanos step = std::chrono::seconds(1);
        if (after) {
            uint64_t now = monotonic_ns();
            if (now >= arm_at) {
                s.arm();
                after.reset();
            } else {
                step = std::min(step, Nanos(static_cast<int64_t>(arm_at - now)));
            }
        }
        int sig = wait_signal(set, step);
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
            kill(child, sig);
        pid_t w = waitpid(child, &status, WNOHANG);
        if (w == child)
            break;
        s.renew();
        if (metrics)
            metrics->publish(prometheus_text(s.stats(), {{"session", s.id()}}));
    }
    s.end(); // the counters below are final
    if (!a.quiet)
        print_stats(s, stderr, "faultline: ");
    write_stats(s, stats_out.get(), false);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

// Reads only: a dead session is shown as such, never cleaned up here.
int cmd_status(bool json) {
    require_capabilities(admin_capabilities());
    std::vector<std::string> rejected;
    auto recs = list_records(&rejected);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : recs) {
        if (!r.is_session())
            continue;
        bool alive = record_alive(r);
        nlohmann::json exps = nlohmann::json::array();
        for (const auto& e : r.experiments) {
            ExperimentStats st{.id = e.id, .spec = e.spec};
            try {
                st.percent = parse_fault(e.spec).percent;
                if (alive)
                    st.counters = bpf::read_counters(r.counters_map_id, e.slot);
            } catch (const Error&) {
            }
            exps.push_back(stats_json(st));
        }
        out.push_back({{"session", r.id},
                       {"pid", r.pid},
                       {"alive", alive},
                       {"cgroup", r.cgroup},
                       {"started_unix", r.started_unix},
                       {"ends_unix", r.ends_unix},
                       {"experiments", exps}});
    }
    for (const auto& why : rejected)
        fmt::print(stderr, "faultline: warning: ignored {}\n", why);
    if (json) {
        std::cout << out.dump(2) << std::endl;
        return exit_ok;
    }
    if (out.empty()) {
        fmt::print("no active faultline sessions\n");
        return exit_ok;
    }
    for (const auto& s : out) {
        bool alive = s["alive"].get<bool>();
        fmt::print("session {}  pid {}{}  cgroup {}\n", s["session"].get<std::string>(), s["pid"].get<int>(),
                   alive ? "" : " (dead: `faultline gc` removes what it left)", s["cgroup"].get<std::string>());
        if (!alive)
            continue;
        for (const auto& e : s["experiments"])
            fmt::print("  {}  {}  evaluated {} matched {} injected {} ({}){}\n", e["id"].get<std::string>(),
                       e["spec"].get<std::string>(), e["evaluated"].get<uint64_t>(), e["matched"].get<uint64_t>(),
                       e["injected"].get<uint64_t>(), format_percent(e["achieved_percent"].get<double>()),
                       e.value("not_held", uint64_t{0}) ? fmt::format(" not-held {}", e["not_held"].get<uint64_t>())
                                                        : "");
    }
    return exit_ok;
}

// Removes what dead loaders left (their sentinels normally do it at once):
// after an older faultline, a killed sentinel, or a crash of both.
int cmd_gc() {
    require_capabilities(admin_capabilities());
    std::vector<std::string> rejected;
    list_records(&rejected);
    auto done = reap_stale_sessions();
    for (const auto& d : done)
        fmt::print("removed {}\n", d);
    for (const auto& why : rejected)
        fmt::print(stderr, "faultline: warning: left alone {}\n", why);
    if (done.empty())
        fmt::print("nothing to remove\n");
    return exit_ok;
}

int cmd_stop(const std::string& id, bool all) {
    require_capabilities(admin_capabilities());
    if (id.empty() && !all)
        throw Error(ErrorKind::usage, "say which session to stop", "faultline stop ID, or faultline stop --all");
    // One session is read by its name; --all lists them (a session that
    // starts meanwhile is not stopped: it was not there to stop).
    std::vector<SessionRecord> recs;
    if (all)
        recs = list_records();
    else if (auto r = find_record(id))
        recs.push_back(std::move(*r));
    int stopped = 0;
    for (const auto& r : recs) {
        if (!r.is_session() || (!all && r.id != id))
            continue;
        if (!record_alive(r)) {
            fmt::print("session {} is dead (pid {} gone): `faultline gc` removes what it left\n", r.id, r.pid);
            continue;
        }
        // Disable in the kernel first (immediate), then ask the owner to
        // detach and clean up.
        for (const auto& e : r.experiments) {
            try {
                bpf::disable_experiment(r.config_map_id, r.stopped_map_id, e.slot);
            } catch (const Error&) {
            }
        }
        kill(r.pid, SIGTERM);
        fmt::print("stopped session {} (pid {}, {})\n", r.id, r.pid, r.cgroup);
        stopped++;
    }
    if (!all && stopped == 0)
        throw Error(ErrorKind::usage, fmt::format("no session '{}'", id), "`faultline status` lists the sessions");
    return exit_ok;
}

int cmd_probe(bool json) {
    require_capabilities(attach_capabilities());
    const auto& r = probe_kernel();
    if (json) {
        nlohmann::json f = nlohmann::json::array();
        for (const auto& x : r.faults)
            f.push_back({{"fault", x.fault},
                         {"available", x.available},
                         {"mechanism", x.mechanism},
                         {"min_kernel", x.min_kernel},
                         {"reason", x.reason}});
        std::cout << nlohmann::json{{"kernel", r.kernel}, {"faults", f}}.dump(2) << std::endl;
        return exit_ok;
    }
    fmt::print("kernel {}\n", r.kernel);
    for (const auto& x : r.faults) {
        if (x.available)
            fmt::print("  {:<12} yes  {} (Linux >= {})\n", x.fault, x.mechanism, x.min_kernel);
        else
            fmt::print("  {:<12} no   {}\n", x.fault, x.reason);
    }
    return exit_ok;
}

int cmd_run(const std::string& file, const std::string& journal, bool dry_run, bool shadow, bool quiet,
            const std::string& metrics, bool metrics_public, const std::string& user, bool allow_host_wide) {
    Experiment x = load_experiment(file); // validated before anything else
    require_capabilities(attach_capabilities());
    x.allow_host_wide = x.allow_host_wide || allow_host_wide;
    (void)resolve_run_as(user.empty() ? x.user : user); // an unknown user is refused before anything
    if (!x.cgroup.empty()) {
        check_target(resolve_cgroup(x.cgroup), x.allow_host_wide);
    }
    if (dry_run && !shadow) {
        fmt::print("{}", plan_text(x));
        fmt::print("dry run: the file is valid and this kernel supports every fault; nothing was attached\n");
        return exit_ok;
    }
    reap_stale_sessions();
    ensure_sentinel(); // before the metrics and probe threads exist
    sigset_t set = waited_signals();
    sigprocmask(SIG_BLOCK, &set, nullptr);
    RunResult r = run_experiment(x, {.journal = journal,
                                     .quiet = quiet,
                                     .shadow = shadow,
                                     .metrics = metrics,
                                     .metrics_public = metrics_public,
                                     .user = user});
    if (r.aborted)
        fmt::print(stderr, "faultline: experiment aborted: {}\n", r.reason);
    return r.aborted ? exit_failure : exit_ok;
}

int cmd_report(const std::string& journal, std::string plot) {
    JournalReport r = report_journal(journal);
    if (plot.empty()) {
        plot = journal;
        if (plot.size() > 6 && plot.compare(plot.size() - 6, 6, ".jsonl") == 0)
            plot.resize(plot.size() - 6);
        plot += ".svg";
    }
    write_output(plot, "--plot", r.svg);
    fmt::print("{}plot: {}\n", r.text, plot);
    return exit_ok;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"faultline: in-kernel fault injection (eBPF) for one cgroup at a time.\n"
                 "Drops, delays and fails the network traffic of exactly one service, at a percentage,\n"
                 "with counters of what was injected and a deadline enforced in the kernel.\n\n"
                 "Exit codes: 0 ok, 1 failure, 2 bad input, 3 unsupported by this kernel, 4 not permitted;\n"
                 "exec returns the command's own status.\n"
                 "Needs CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_DAC_OVERRIDE (root has them); a missing one is\n"
                 "named before anything is attached. Commands it starts run as the sudo user, not root (--user).",
                 "faultline"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("faultline ") + "0.1.0");
    bool verbose = false;
    app.add_flag("--verbose,-v", verbose, "Show libbpf and verifier messages");

    FaultArgs exec_args, inject_args;
    std::vector<std::string> exec_cmd;
    std::string exec_parent;
    auto* exec = app.add_subcommand("exec", "Run CMD in a fresh cgroup with the faults; return its exit status");
    exec_args.add_to(exec);
    exec->add_option("--parent", exec_parent, "Create the command's cgroup under this cgroup (default: the v2 root)");
    exec->add_option("--after", exec_args.after,
                     "Start the faults DUR after CMD has started (e.g. 500ms, 2s), so that it can start (exec, "
                     "load its libraries, read its config) unharmed; --for counts from then. Default: the faults "
                     "are live before CMD starts, so disk.* and mem.* faults can make it fail to start")
        ->type_name("DUR");
    exec->add_option("--user,-u", exec_args.user,
                     "Run CMD as USER (name or uid), with no capabilities and no_new_privs. Default: the user who "
                     "ran sudo (SUDO_UID), else faultline's own; `--user root` for root")
        ->type_name("USER");
    exec->add_option("cmd", exec_cmd, "Command and arguments (after --)")->required();
    exec->positionals_at_end();

    std::string inject_cgroup;
    bool inject_json = false;
    auto* inject = app.add_subcommand("inject", "Inject into an existing cgroup until --for ends or Ctrl-C");
    inject->add_option("--cgroup,-c", inject_cgroup, "Target cgroup v2 directory (descendants included)")->required();
    inject_args.add_to(inject);
    inject->add_flag("--json", inject_json, "Print the final counters as JSON on stdout");

    bool status_json = false;
    auto* status = app.add_subcommand("status", "Show running sessions and their live counters");
    status->add_flag("--json", status_json, "JSON output");

    std::string stop_id;
    bool stop_all = false;
    auto* stop = app.add_subcommand("stop", "Stop a session (or all): disabled in the kernel at once, then removed");
    stop->add_option("id", stop_id, "Session id (from status)");
    stop->add_flag("--all", stop_all, "Stop every session");

    auto* gc = app.add_subcommand("gc", "Remove what dead faultline processes left (qdiscs, tc filters, cgroups, "
                                        "records); their sentinels normally do this at once");

    bool probe_json = false;
    auto* probe = app.add_subcommand("probe", "Show, per fault, the mechanism this kernel allows or why none");
    probe->add_flag("--json", probe_json, "JSON output");

    DemoOptions demo_opts;
    auto* demo = app.add_subcommand("demo", "Run the built-in experiment: 10 ms on 1% and 1% loss on real traffic "
                                            "in a private namespace");
    demo->add_option("--requests", demo_opts.requests, "UDP requests per phase")->check(CLI::Range(100, 1000000));
    demo->add_flag("--json", demo_opts.json, "JSON output");

    std::string run_file, run_journal, run_metrics, run_user;
    bool run_dry = false, run_quiet = false, run_shadow = false, run_allow_host_wide = false,
         run_metrics_public = false;
    auto* run = app.add_subcommand(
        "run", "Run an experiment file: steps, ramps, a steady-state probe that aborts it, a journal of everything");
    run->add_option("file", run_file, "Experiment file (YAML; see examples/ and README)")->required();
    run->add_option("--journal", run_journal,
                    "Write the journal (one JSON object per line) to FILE; default: next to the experiment file, "
                    "NAME-YYYYmmddTHHMMSSZ.jsonl");
    run->add_flag("--dry-run", run_dry,
                  "Validate the file, probe the kernel, print what would be attached where; attach nothing");
    run->add_flag("--shadow", run_shadow,
                  "With --dry-run (or alone): run the steps with every fault in count-only mode: attached, "
                  "evaluated and sampled, `injected` counts the events that would have been injected, nothing is");
    run->add_option("--metrics", run_metrics,
                    "Serve live counters, the step and the probe's results for Prometheus on [ADDR:]PORT, "
                    "GET /metrics (ADDR defaults to 127.0.0.1)");
    run->add_flag("--metrics-public", run_metrics_public,
                  "Allow --metrics on an address other machines reach (refused otherwise: the counters name the "
                  "target and its faults)");
    run->add_flag("--quiet,-q", run_quiet, "No progress lines");
    run->add_option("--user,-u", run_user,
                    "Run the file's commands (exec: target, steady_state command:) as USER, with no capabilities "
                    "and no_new_privs; overrides `user:` in the file. Default: the user who ran sudo (SUDO_UID), "
                    "else faultline's own. An experiment file is code: read it before running it as root")
        ->type_name("USER");
    run->add_flag("--allow-host-wide", run_allow_host_wide,
                  "Allow a target cgroup that reaches beyond one service (the v2 root, or one containing faultline, "
                  "its invoking session or PID 1); same as `allow_host_wide: true` in the file");
    run->footer("The file (YAML; full description in README, examples in examples/):\n"
                "  title: TEXT                      hypothesis: TEXT\n"
                "  target: {cgroup: PATH} | {exec: COMMAND}   netns: NAME   seed: N   user: NAME\n"
                "  allow_host_wide: BOOL              force: BOOL\n"
                "  steps: - {name: TEXT, faults: [SPEC...], duration: DUR}\n"
                "         - {ramp: {fault: SPEC-without-@P%, from: P%, to: P%, steps: N, over: DUR}}\n"
                "  steady_state: {http: http://127.0.0.1:PORT/PATH | command: COMMAND,\n"
                "                 interval: DUR, timeout: DUR, max_failures: N}\n"
                "  limits: {max_injections: N, max_duration: DUR}\n"
                "Exit status: 0 when every step ran, 1 when the experiment was aborted (steady state lost, a "
                "limit reached, the target exited, Ctrl-C/SIGTERM), 2 for a bad file (the message names the line "
                "and field), 3 if this kernel cannot inject a fault of the file.");

    std::string report_journal_file, report_plot;
    auto* report = app.add_subcommand("report", "Summarize a run's journal and plot it (SVG)");
    report->add_option("journal", report_journal_file, "Journal written by `faultline run`")->required();
    report->add_option("--plot", report_plot, "Write the plot to FILE (default: the journal's name with .svg)");

    auto known = [&](const char* name) {
        for (const auto* sc : app.get_subcommands({}))
            if (sc->check_name(name))
                return true;
        return false;
    };
    if (argc > 1 && argv[1][0] != '-' && !known(argv[1])) {
        fmt::print(
            stderr,
            "error: unknown command '{}'\nhint: commands are exec, inject, run, report, status, stop, gc, probe, demo "
            "(see `faultline --help`)\n",
            argv[1]);
        return exit_usage;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0)
            return app.exit(e);
        fmt::print(stderr, "error: {}\nhint: see `{} --help`\n", e.what(),
                   app.get_subcommands().empty() ? "faultline" : "faultline " + app.get_subcommands()[0]->get_name());
        return exit_usage;
    }
    bpf::set_verbose(verbose);

    try {
        if (*exec)
            return cmd_exec(exec_cmd, exec_args, exec_parent);
        if (*inject)
            return cmd_inject(inject_cgroup, inject_args, inject_json);
        if (*status)
            return cmd_status(status_json);
        if (*stop)
            return cmd_stop(stop_id, stop_all);
        if (*probe)
            return cmd_probe(probe_json);
        if (*gc)
            return cmd_gc();
        if (*run)
            return cmd_run(run_file, run_journal, run_dry, run_shadow, run_quiet, run_metrics, run_metrics_public,
                           run_user, run_allow_host_wide);
        if (*report)
            return cmd_report(report_journal_file, report_plot);
        if (*demo) {
            require_capabilities(attach_capabilities());
            reap_stale_sessions();
            ensure_sentinel();
            return run_demo(demo_opts);
        }
    } catch (const Error& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        if (!e.hint().empty())
            fmt::print(stderr, "hint: {}\n", e.hint());
        return exit_code(e.kind());
    } catch (const std::exception& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        return exit_failure;
    }
    return exit_failure;
}
