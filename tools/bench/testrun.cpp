// SPDX-License-Identifier: Apache-2.0
// fl_bench_testrun: per-packet cost of the cgroup_skb egress program, by
// BPF_PROG_TEST_RUN, against an empty program measured in the same run.
//
// The test-run skb belongs to a dummy socket whose cgroup is the calling
// process's cgroup, so "experiment on the target" means: this process sits in
// the target cgroup while the program runs. Cases are interleaved round by
// round (the order rotates) so that drift on a shared machine hits all of
// them alike; the figure per case is the median over rounds.
//
// A second table measures building blocks (parts.bpf.c) the same way, to
// show what dominates and what would be cheaper.
//
// usage: fl_bench_testrun [--repeat N] [--rounds N] [--experiments N] [--json FILE] [--no-parts]
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "empty_prog.hpp"
#include "faultline/bpf.hpp"
#include "faultline/cgroup.hpp"
#include "faultline/error.hpp"
#include "faultline/session.hpp"
#include "faultline/spec.hpp"
#include "flb_parts.skel.h"
#include "support/packet.hpp"

namespace faultline::bench {
namespace {

constexpr uint64_t experiment_ttl_ns = 600ull * 1000 * 1000 * 1000;

// Owns a raw program fd (the empty program is not part of bpf::Object).
struct ProgFd {
    int fd = -1;
    ~ProgFd() {
        if (fd >= 0)
            close(fd);
    }
};

// Same arguments as bpf::Object::test_run, so both sides of the floor
// subtraction go through an identical harness.
bpf::TestRun test_run_fd(int fd, const std::vector<uint8_t>& packet, uint32_t repeat) {
    __sk_buff ctx{}, ctx_out{};
    std::vector<uint8_t> out(packet.size() + 256);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(), .data_out = out.data(),
                .data_size_in = static_cast<uint32_t>(packet.size()),
                .data_size_out = static_cast<uint32_t>(out.size()), .ctx_in = &ctx, .ctx_out = &ctx_out,
                .ctx_size_in = sizeof ctx, .ctx_size_out = sizeof ctx_out, .repeat = static_cast<int>(repeat));
    if (bpf_prog_test_run_opts(fd, &opts))
        throw_errno("BPF_PROG_TEST_RUN", errno);
    return {.retval = opts.retval, .duration_ns = opts.duration, .tstamp = ctx_out.tstamp};
}

fl_experiment drop_experiment(uint64_t cgroup_id, uint64_t threshold, uint64_t expires_jiffies) {
    fl_experiment e{};
    e.cgroup_id = cgroup_id;
    e.expires = expires_jiffies;
    e.threshold = threshold;
    e.action = FL_ACT_DROP;
    e.proto_mask = FL_PROTO_ANY;
    e.dir_mask = FL_DIR_EGRESS;
    e.rport_lo = 0;
    e.rport_hi = 0xffff;
    e.lport_lo = 0;
    e.lport_hi = 0xffff;
    e.family = FL_FAMILY_ANY;
    return e;
}

// Experiment `slot` on `cg`, alone in cg's egress index entry.
void add_experiment(bpf::Object& obj, uint32_t slot, const CgroupRef& cg, uint64_t threshold) {
    obj.set_experiment(slot,
                       drop_experiment(cg.id, threshold, obj.deadline_jiffies(monotonic_ns() + experiment_ttl_ns)));
    fl_index_val v{};
    v.n = 1;
    v.slots[0] = slot;
    obj.set_index(cg.id, FL_HOOK_EGRESS, v);
}

// Moves this process back where it started when it goes out of scope. Must
// be destroyed before the ScratchCgroups: their removal kills whatever is
// still inside, which would be us.
class ReturnHome {
  public:
    explicit ReturnHome(std::string home) : home_(std::move(home)) {}
    ~ReturnHome() {
        try {
            cgroup_move(home_, getpid());
        } catch (const std::exception& e) {
            fmt::print(stderr, "fl_bench_testrun: cannot move back to {}: {}\n", home_, e.what());
        }
    }
    const std::string& path() const { return home_; }

  private:
    std::string home_;
};

struct Case {
    std::string key;
    std::string label;
    std::string cgroup; // where this process sits while the program runs
    std::function<bpf::TestRun(uint32_t repeat)> run;
    uint64_t packets = 0; // repetitions run, for the counter checks
    std::vector<double> kernel_ns, wall_ns;
    std::vector<uint32_t> retvals;
};

std::string fmt_ns(double v) {
    return fmt::format("{:.1f}", v);
}

// The key of parts.bpf.c's hash-map index.
struct flb_index_key {
    uint64_t cgroup_id;
    uint32_t hook;
    uint32_t pad;
};

struct PartsSkel {
    flb_parts* s = nullptr;
    ~PartsSkel() { flb_parts__destroy(s); }
};

struct Part {
    std::string key;
    bpf_program* prog;
    std::vector<double> kernel_ns;
};

// Loads parts.bpf.c with the index entry and slot 0 of the target, as
// faultline's own maps would hold them, and measures each program from the
// target cgroup. Returns the median ns per program, by name.
std::map<std::string, double> measure_parts(const CgroupRef& target, const std::vector<uint8_t>& packet,
                                            uint32_t repeat, int rounds, nlohmann::json& jout) {
    PartsSkel sk;
    sk.s = flb_parts__open();
    if (!sk.s)
        throw_errno("open the building-block programs", errno);
    sk.s->rodata->flb_level = target.level;
    if (int err = flb_parts__load(sk.s))
        throw_errno("load the building-block programs", -err);
    flb_index_key k{.cgroup_id = target.id, .hook = FL_HOOK_EGRESS, .pad = 0};
    fl_index_val v{};
    v.n = 1;
    fl_index_entry ie{.cgroup_id = target.id, .hook = FL_HOOK_EGRESS, .v = v, .pad = 0};
    uint32_t ie_pos = fl_index_pos(fl_index_hash(target.id, FL_HOOK_EGRESS), 0);
    fl_experiment e = drop_experiment(target.id, 0, UINT64_MAX);
    uint32_t slot = 0;
    if (bpf_map__update_elem(sk.s->maps.flb_index, &k, sizeof k, &v, sizeof v, BPF_ANY) ||
        bpf_map__update_elem(sk.s->maps.flb_dm, &ie_pos, sizeof ie_pos, &ie, sizeof ie, BPF_ANY) ||
        bpf_map__update_elem(sk.s->maps.flb_config, &slot, sizeof slot, &e, sizeof e, BPF_ANY))
        throw_errno("fill the building-block maps", errno);

    std::vector<Part> parts;
    bpf_program* p = nullptr;
    bpf_object__for_each_program(p, sk.s->obj) parts.push_back({bpf_program__name(p), p, {}});
    cgroup_move(target.path, getpid());
    for (auto& part : parts) // warm-up
        test_run_fd(bpf_program__fd(part.prog), packet, repeat / 10);
    for (int round = 0; round < rounds; round++) {
        for (size_t i = 0; i < parts.size(); i++) {
            throw_if_stopped();
            Part& part = parts[(i + static_cast<size_t>(round)) % parts.size()];
            part.kernel_ns.push_back(test_run_fd(bpf_program__fd(part.prog), packet, repeat).duration_ns);
        }
        fmt::print(stderr, "\rfl_bench_testrun: building blocks, round {}/{}", round + 1, rounds);
    }
    fmt::print(stderr, "\n");
    std::map<std::string, double> med;
    for (const auto& part : parts) {
        med[part.key] = median(part.kernel_ns);
        jout.push_back({{"key", part.key}, {"median_ns", med[part.key]}, {"kernel_ns", part.kernel_ns}});
    }
    return med;
}

// Facts only: what each block costs here. Which blocks fl_skb_egress runs
// per packet is a property of bpf/ at the commit measured (BENCHMARKS.md
// does that accounting), so no path model is hard-coded here to go stale.
void print_parts(std::map<std::string, double> m, double b_above_floor, double c_above_floor, double d_above_floor) {
    auto block = [&](const char* k) { return fmt::format("{:.0f}", m[k] - m["flb_ancestor"]); };
    fmt::print("### Building blocks (tools/bench/parts.bpf.c), same harness\n\n");
    fmt::print("Each block is a program `bpf_skb_ancestor_cgroup_id` + the block; its cost is that program minus "
               "the ancestor-only one. For comparison, above the floor: case b {:.0f} ns, c {:.0f} ns, "
               "d {:.0f} ns.\n\n",
               b_above_floor, c_above_floor, d_above_floor);
    fmt::print("| block | ns | note |\n|---|---:|---|\n");
    fmt::print("| `bpf_skb_ancestor_cgroup_id` | {:.0f} | vs. the empty program ({:.0f} ns) |\n",
               m["flb_ancestor"] - m["flb_empty"], m["flb_empty"]);
    fmt::print("| hash-map lookup, hit, 16-byte key (the index before the two-choice array) | {} | |\n",
               block("flb_hash"));
    fmt::print("| two-choice array index (`fl_index`), hit at the first position | {} | |\n", block("flb_dmindex"));
    fmt::print("| `bpf_ktime_get_ns` | {} | |\n", block("flb_ktime"));
    fmt::print("| `bpf_ktime_get_coarse_ns` | {} | jiffy resolution |\n", block("flb_coarse"));
    fmt::print("| `bpf_jiffies64` | {} | jiffy resolution; inlined by the verifier |\n", block("flb_jiffies"));
    fmt::print("| `bpf_get_socket_cookie` | {} | |\n", block("flb_cookie"));
    fmt::print("| `bpf_skb_load_bytes` ×2: IPv4 header, ports | {} | |\n", block("flb_load"));
    fmt::print("| direct packet access, same bytes | {} | `skb->data`, read-only in cgroup_skb |\n",
               block("flb_direct"));
    fmt::print("| config + per-CPU counter array lookups, two increments | {} | |\n", block("flb_arrays"));
    fmt::print("| call of a global (non-inlined) BPF function | {} | |\n", block("flb_call"));
    fmt::print("| `bpf_get_prandom_u32` | {} | |\n", block("flb_prandom"));
    fmt::print("| `bpf_get_local_storage` (cgroup storage), instead of ancestor id + hash lookup | {:.0f} | "
               "vs. the empty program; ancestor id + hash: {:.0f} |\n\n",
               m["flb_storage_get"] - m["flb_empty"], m["flb_hash"] - m["flb_empty"]);
}

int run(const Args& args) {
    const auto repeat = args.num<uint32_t>("--repeat", 1000000);
    const auto rounds = args.num<int>("--rounds", 15);
    const auto n_experiments = args.num<int>("--experiments", 1000);
    const std::string json_path = args.str("--json", "");
    if (repeat < 1000 || rounds < 1 || n_experiments < 2 || n_experiments > FL_MAX_EXPERIMENTS)
        throw std::invalid_argument(
            fmt::format("need --repeat >= 1000, --rounds >= 1, 2 <= --experiments <= {}", FL_MAX_EXPERIMENTS));
    if (geteuid() != 0)
        throw Error(ErrorKind::permission, "fl_bench_testrun needs root (BPF programs, cgroups)");

    const std::string root = cgroup2_mount();
    const std::string start_cg = cgroup_of(getpid());
    const std::string home = start_cg == "/" || start_cg.empty() ? root : root + start_cg;

    // Targets are siblings at the same depth, as independent services would
    // be; the bystander is one more sibling without any experiment.
    ScratchCgroup parent(root, fmt::format("faultline-bench-{}", getpid()));
    ScratchCgroup target(parent.path(), "target");
    ScratchCgroup bystander(parent.path(), "bystander");
    std::vector<std::unique_ptr<ScratchCgroup>> others;
    for (int i = 1; i < n_experiments; i++) {
        throw_if_stopped();
        others.push_back(std::make_unique<ScratchCgroup>(parent.path(), fmt::format("t{:04}", i)));
    }
    ReturnHome home_guard(home);
    const uint32_t levels = 1u << target.ref().level;

    const auto packet = test::PacketBuilder().v4("198.18.0.1", "198.18.0.2").udp(1000, 53).payload(64).build();
    const std::set<bpf::Program> egress{bpf::Program::skb_egress};

    ProgFd empty{load_empty_program()};

    // One instance per configuration, so that nothing is rewritten between
    // rounds: idle (0% on the target; also used from the bystander for "another
    // cgroup"), 1% drop, and 1,000 experiments on 1,000 cgroups.
    auto idle = bpf::Object::load(egress);
    add_experiment(*idle, 0, target.ref(), 0);
    idle->set_levels(levels);

    auto drop = bpf::Object::load(egress);
    add_experiment(*drop, 0, target.ref(), percent_to_threshold(1.0));
    drop->set_levels(levels);

    auto many = bpf::Object::load(egress);
    add_experiment(*many, 0, target.ref(), 0);
    for (size_t i = 0; i < others.size(); i++)
        add_experiment(*many, static_cast<uint32_t>(i + 1), others[i]->ref(), 0);
    many->set_levels(levels);

    // The same idle experiment with filters (proto=udp, remote port 53,
    // which the packet matches): the fast path parses the headers.
    auto filtered = bpf::Object::load(egress);
    {
        fl_experiment fe =
            drop_experiment(target.ref().id, 0, filtered->deadline_jiffies(monotonic_ns() + experiment_ttl_ns));
        fe.proto_mask = FL_PROTO_UDP;
        fe.rport_lo = fe.rport_hi = 53;
        filtered->set_experiment(0, fe);
        fl_index_val v{};
        v.n = 1;
        filtered->set_index(target.ref().id, FL_HOOK_EGRESS, v);
        filtered->set_levels(levels);
    }

    // dns.drop at 0% on this cgroup (ingress, where answers are dropped),
    // for *.example.com: run on a UDP packet that is not DNS, on a DNS answer
    // for another name, and on one for a matching name (parsed, matched,
    // drawn, not dropped). One instance each, so the counters tell them apart.
    const std::set<bpf::Program> ingress{bpf::Program::skb_ingress};
    auto dns_object = [&] {
        auto o = bpf::Object::load(ingress);
        fl_experiment e = make_experiment(parse_fault("dns.drop@0%,domain=*.example.com"), target.ref(), {}, 0);
        e.expires = o->deadline_jiffies(monotonic_ns() + experiment_ttl_ns);
        o->set_experiment(0, e);
        fl_index_val v{};
        v.n = 1;
        o->set_index(target.ref().id, FL_HOOK_INGRESS, v);
        o->set_levels(levels);
        return o;
    };
    auto dns_nondns = dns_object(), dns_other = dns_object(), dns_match = dns_object();
    const auto udp_in = test::PacketBuilder().v4("198.18.0.2", "198.18.0.1").udp(9000, 40000).payload(64).build();
    auto answer = [](const std::string& name) {
        return test::PacketBuilder()
            .v4("198.18.0.53", "198.18.0.1")
            .udp(53, 40000)
            .payload(test::DnsMessage().name(name).answer().build())
            .build();
    };
    const auto answer_other = answer("www.other.test"), answer_match = answer("www.example.com");

    // Error answers: the tc ingress program on a DNS answer, with an
    // experiment live and nothing pending (one jiffies compare), and with a
    // rewrite pending for another exchange (parsed, looked up, no match).
    // The pending entry is made by the egress program on a real query and
    // must outlive the run (checked at the end).
    const std::set<bpf::Program> rcode_progs{bpf::Program::skb_egress, bpf::Program::tc_ingress};
    auto rcode_object = [&] {
        auto o = bpf::Object::load(rcode_progs);
        o->set_answer_wait(experiment_ttl_ns);
        fl_experiment e = make_experiment(parse_fault("dns.nxdomain@100%,domain=*.example.com"), target.ref(), {}, 0);
        e.expires = o->deadline_jiffies(monotonic_ns() + experiment_ttl_ns);
        o->set_experiment(0, e);
        fl_index_val v{};
        v.n = 1;
        o->set_index(target.ref().id, FL_HOOK_EGRESS, v);
        o->set_levels(levels);
        return o;
    };
    auto rc_idle = rcode_object(), rc_pending = rcode_object();
    const auto query_match = test::PacketBuilder()
                                 .v4("198.18.0.1", "198.18.0.53")
                                 .udp(40000, 53)
                                 .payload(test::DnsMessage().name("www.example.com").build())
                                 .build();
    const auto answer_match_other_id = test::PacketBuilder()
                                           .v4("198.18.0.53", "198.18.0.1")
                                           .udp(53, 40000)
                                           .payload(test::DnsMessage().name("www.example.com").id(7).answer().build())
                                           .build();
    {
        cgroup_move(target.path(), getpid());
        rc_pending->test_run(bpf::Program::skb_egress, query_match, 1);
        cgroup_move(home_guard.path(), getpid());
    }
    ProgFd empty_tc{load_empty_program(true)};

    auto on = [&](bpf::Object& o) {
        return [&o, &packet](uint32_t r) { return o.test_run(bpf::Program::skb_egress, packet, r); };
    };
    auto on_ingress = [](bpf::Object& o, const std::vector<uint8_t>& pkt) {
        return [&o, &pkt](uint32_t r) { return o.test_run(bpf::Program::skb_ingress, pkt, r); };
    };
    std::vector<Case> cases;
    cases.push_back({.key = "floor",
                     .label = "a. floor: empty cgroup_skb program (`r0 = 1; exit`)",
                     .cgroup = target.path(),
                     .run = [&](uint32_t r) { return test_run_fd(empty.fd, packet, r); }});
    cases.push_back({.key = "idle_target",
                     .label = "b. faultline, experiment at 0% on this cgroup",
                     .cgroup = target.path(),
                     .run = on(*idle)});
    cases.push_back({.key = "idle_other",
                     .label = "c. faultline, experiment on another cgroup (index miss)",
                     .cgroup = bystander.path(),
                     .run = on(*idle)});
    cases.push_back({.key = "drop_1pct",
                     .label = "d. faultline, 1% drop on this cgroup",
                     .cgroup = target.path(),
                     .run = on(*drop)});
    cases.push_back({.key = "many_1000",
                     .label = fmt::format("e. faultline, {} experiments on {} cgroups, 0% on this one", n_experiments,
                                          n_experiments),
                     .cgroup = target.path(),
                     .run = on(*many)});
    cases.push_back({.key = "idle_filtered",
                     .label = "f. faultline, experiment at 0% with filters (proto=udp,port=53) on this cgroup",
                     .cgroup = target.path(),
                     .run = on(*filtered)});
    cases.push_back({.key = "dns_nondns",
                     .label = "g. ingress, dns.drop@0% for *.example.com on this cgroup: a UDP packet that is not DNS",
                     .cgroup = target.path(),
                     .run = on_ingress(*dns_nondns, udp_in)});
    cases.push_back({.key = "dns_other",
                     .label = "h. same, a DNS answer for another name (www.other.test: parsed, no match)",
                     .cgroup = target.path(),
                     .run = on_ingress(*dns_other, answer_other)});
    cases.push_back({.key = "dns_match",
                     .label = "i. same, a DNS answer for www.example.com (parsed, matched, drawn)",
                     .cgroup = target.path(),
                     .run = on_ingress(*dns_match, answer_match)});
    cases.push_back({.key = "tc_floor",
                     .label = "j. floor of the tc cases: empty tc program",
                     .cgroup = target.path(),
                     .run = [&](uint32_t r) { return test_run_fd(empty_tc.fd, answer_match_other_id, r); }});
    cases.push_back(
        {.key = "tc_idle",
         .label = "k. tc ingress, dns.nxdomain live, no rewrite pending: a DNS answer (above j)",
         .cgroup = target.path(),
         .run = [&](uint32_t r) { return rc_idle->test_run(bpf::Program::tc_ingress, answer_match_other_id, r); }});
    cases.push_back(
        {.key = "tc_pending",
         .label = "l. same, a rewrite pending for another exchange: parsed, looked up, no match (above j)",
         .cgroup = target.path(),
         .run = [&](uint32_t r) { return rc_pending->test_run(bpf::Program::tc_ingress, answer_match_other_id, r); }});

    auto measure = [&](Case& c, uint32_t r, bool record) {
        throw_if_stopped();
        cgroup_move(c.cgroup, getpid());
        double t0 = now_s();
        bpf::TestRun tr = c.run(r);
        double t1 = now_s();
        c.packets += r;
        if (record) {
            c.kernel_ns.push_back(tr.duration_ns);
            c.wall_ns.push_back((t1 - t0) * 1e9 / r);
            c.retvals.push_back(tr.retval);
        }
    };
    // Warm-up: caches, branch predictors, map memory.
    for (auto& c : cases)
        measure(c, repeat / 10, false);
    for (int round = 0; round < rounds; round++) {
        for (size_t i = 0; i < cases.size(); i++)
            measure(cases[(i + static_cast<size_t>(round)) % cases.size()], repeat, true);
        fmt::print(stderr, "\rfl_bench_testrun: round {}/{}", round + 1, rounds);
    }
    fmt::print(stderr, "\n");
    cgroup_move(home_guard.path(), getpid());

    // The figures mean nothing unless each case took the path it claims to:
    // check the counters against the number of packets run.
    std::vector<std::string> problems;
    auto expect = [&](bool ok, std::string what) {
        if (!ok)
            problems.push_back(std::move(what));
    };
    const Case& b = cases[1];
    const Case& d = cases[3];
    const Case& e = cases[4];
    const Case& f = cases[5];
    fl_counters ci = idle->counters(0), cd = drop->counters(0), cm = many->counters(0), cf = filtered->counters(0);
    expect(cf.evaluated == f.packets && cf.matched == f.packets && cf.injected == 0,
           fmt::format("filtered: evaluated {} matched {} injected {}, expected {} {} 0", cf.evaluated, cf.matched,
                       cf.injected, f.packets, f.packets));
    expect(ci.evaluated == b.packets && ci.matched == b.packets && ci.injected == 0,
           fmt::format("idle: evaluated {} matched {} injected {}, expected {} {} 0 (case c must not be "
                       "evaluated)",
                       ci.evaluated, ci.matched, ci.injected, b.packets, b.packets));
    expect(cm.evaluated == e.packets && cm.injected == 0,
           fmt::format("1,000 experiments: slot 0 evaluated {}, expected {}", cm.evaluated, e.packets));
    expect(many->counters(1).evaluated == 0, "1,000 experiments: another cgroup's slot was evaluated");
    double achieved = cd.matched ? 100.0 * static_cast<double>(cd.injected) / static_cast<double>(cd.matched) : 0;
    expect(cd.evaluated == d.packets && achieved > 0.95 && achieved < 1.05,
           fmt::format("1% drop: evaluated {} (expected {}), achieved {:.3f}%", cd.evaluated, d.packets, achieved));
    const fl_counters cg = dns_nondns->counters(0), ch = dns_other->counters(0), cj = dns_match->counters(0);
    expect(cg.evaluated == cases[6].packets && cg.matched == 0,
           fmt::format("dns, not DNS: evaluated {} matched {}, expected {} 0", cg.evaluated, cg.matched,
                       cases[6].packets));
    expect(ch.evaluated == cases[7].packets && ch.matched == 0,
           fmt::format("dns, other name: evaluated {} matched {}, expected {} 0", ch.evaluated, ch.matched,
                       cases[7].packets));
    expect(cj.evaluated == cases[8].packets && cj.matched == cases[8].packets && cj.injected == 0,
           fmt::format("dns, matching name: evaluated {} matched {} injected {}, expected {} {} 0", cj.evaluated,
                       cj.matched, cj.injected, cases[8].packets, cases[8].packets));
    for (size_t i : {0, 1, 2, 5, 6, 7, 8})
        for (uint32_t rv : cases[i].retvals)
            expect(rv == 1, fmt::format("{}: retval {} (expected 1 = pass)", cases[i].key, rv));
    for (size_t i : {10, 11})
        for (uint32_t rv : cases[i].retvals)
            expect(rv == static_cast<uint32_t>(-1),
                   fmt::format("{}: retval {} (expected -1 = next)", cases[i].key, rv));
    // Case l measured the pending path only if the rewrite was still
    // pending: its own answer is rewritten now, and nothing before.
    {
        expect(rc_pending->counters(0).injected == 0 && rc_idle->counters(0).injected == 0,
               "error answers: something was rewritten during the run");
        auto own = test::PacketBuilder()
                       .v4("198.18.0.53", "198.18.0.1")
                       .udp(53, 40000)
                       .payload(test::DnsMessage().name("www.example.com").answer().build())
                       .build();
        // An answer is rewritten only for a socket the query left from (the
        // egress program marks it): the test run's query came from a dummy
        // socket, so the client's socket is made and marked here.
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        const int one = 1;
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(40000);
        inet_pton(AF_INET, "198.18.0.1", &a.sin_addr);
        const uint64_t cg = target.ref().id;
        expect(fd >= 0 && setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one) == 0 &&
                   bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                   bpf_map_update_elem(rc_pending->map_fd("fl_dns_sk"), &fd, &cg, BPF_ANY) == 0,
               "error answers: cannot make the client's socket");
        rc_pending->test_run(bpf::Program::tc_ingress, own, 1);
        if (fd >= 0)
            close(fd);
        expect(rc_pending->counters(0).injected == 1, "error answers: the pending rewrite was gone by the end");
    }

    // --- report ---------------------------------------------------------
    const double floor_k = median(cases[0].kernel_ns);
    const double floor_w = median(cases[0].wall_ns);
    const double b_k = median(b.kernel_ns);
    const double e_k = median(e.kernel_ns);
    const double idle_goal = 20.0, many_goal = 1.10;
    auto verdict = [](bool met, const std::string& by) { return met ? "**met**" : "**missed** " + by; };

    fmt::print("### Per-packet cost by BPF_PROG_TEST_RUN (egress, UDP/IPv4, 64-byte payload; g–i: ingress)\n\n");
    fmt::print("repeat {} per run, {} rounds, median over rounds; `ns/packet` is the kernel's own figure "
               "(integer ns), `wall` is clock time around the syscall / repeat.\n\n",
               repeat, rounds);
    fmt::print("| case | ns/packet | above floor | min–max | wall ns/packet | goal | result |\n");
    fmt::print("|---|---:|---:|---:|---:|---|---|\n");
    nlohmann::json jcases = nlohmann::json::array();
    for (size_t i = 0; i < cases.size(); i++) {
        const Case& c = cases[i];
        double k = median(c.kernel_ns), w = median(c.wall_ns);
        auto [mn, mx] = std::minmax_element(c.kernel_ns.begin(), c.kernel_ns.end());
        std::string goal, result;
        if (c.key == "idle_target" || c.key == "idle_other" || c.key == "idle_filtered") {
            goal = fmt::format("≤ +{:.0f} ns", idle_goal);
            result = verdict(k - floor_k <= idle_goal, fmt::format("by {:.0f} ns", k - floor_k - idle_goal));
        } else if (c.key == "many_1000") {
            goal = fmt::format("≤ {:.2f}× case b", many_goal);
            double ratio = e_k / b_k;
            result = fmt::format("{:.3f}× ({:.2f}× above floor) ", ratio, (e_k - floor_k) / (b_k - floor_k)) +
                     verdict(ratio <= many_goal, fmt::format("by {:.3f}×", ratio - many_goal));
        } else if (c.key == "drop_1pct") {
            result = fmt::format("achieved {:.3f}% drops", achieved);
        }
        const bool tc = c.key.rfind("tc_", 0) == 0;
        const double base = tc ? median(cases[9].kernel_ns) : floor_k;
        fmt::print("| {} | {:.0f} | {} | {:.0f}–{:.0f} | {} | {} | {} |\n", c.label, k,
                   i == 0 || c.key == "tc_floor" ? "—" : fmt::format("+{:.0f}", k - base), *mn, *mx, fmt_ns(w), goal,
                   result);
        jcases.push_back({{"key", c.key},
                          {"label", c.label},
                          {"median_ns", k},
                          {"above_floor_ns", k - (tc ? median(cases[9].kernel_ns) : floor_k)},
                          {"median_wall_ns", w},
                          {"above_floor_wall_ns", w - floor_w},
                          {"kernel_ns", c.kernel_ns},
                          {"wall_ns", c.wall_ns}});
    }
    fmt::print("\n");
    if (!problems.empty()) {
        for (const auto& p : problems)
            fmt::print("- **check failed**: {}\n", p);
        fmt::print("\n");
    }
    std::fflush(stdout); // the table is out before the building blocks run
    nlohmann::json jparts = nlohmann::json::array();
    if (!args.flag("--no-parts")) {
        auto m = measure_parts(target.ref(), packet, repeat, rounds, jparts);
        cgroup_move(home_guard.path(), getpid());
        print_parts(m, b_k - floor_k, median(cases[2].kernel_ns) - floor_k, median(d.kernel_ns) - floor_k);
    }
    if (!json_path.empty()) {
        nlohmann::json j{{"repeat", repeat},
                         {"rounds", rounds},
                         {"experiments", n_experiments},
                         {"packet", "Ethernet+IPv4+UDP, 64-byte payload"},
                         {"drop_achieved_percent", achieved},
                         {"checks_failed", problems},
                         {"cases", jcases},
                         {"building_blocks", jparts}};
        std::ofstream(json_path) << j.dump(2) << "\n";
    }
    return problems.empty() ? 0 : 1;
}

} // namespace
} // namespace faultline::bench

int main(int argc, char** argv) {
    using namespace faultline::bench;
    return tool_main("fl_bench_testrun", [&] { return run(Args(argc, argv)); });
}
