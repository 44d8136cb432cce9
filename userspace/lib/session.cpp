// SPDX-License-Identifier: Apache-2.0
#include "faultline/session.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <net/if.h>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <tuple>
#include <unistd.h>

#include "faultline/bpf.hpp"
#include "faultline/crashpoint.hpp"
#include "faultline/error.hpp"
#include "faultline/plan.hpp"
#include "faultline/probe.hpp"
#include "faultline/qdisc.hpp"
#include "faultline/sentinel.hpp"
#include "faultline/state.hpp"

namespace faultline {

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts); // the clock of bpf_ktime_get_ns()
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

fl_experiment make_experiment(const FaultSpec& f, const CgroupRef& target, std::optional<uint64_t> seed,
                              uint32_t slot) {
    fl_experiment e{};
    e.cgroup_id = target.id;
    e.threshold = f.threshold;
    e.limit = f.limit;
    e.sample = f.sample;
    e.proto_mask = f.proto_mask;
    e.dir_mask = f.dir_mask;
    e.rport_lo = f.rport.lo;
    e.rport_hi = f.rport.hi;
    e.lport_lo = f.lport.lo;
    e.lport_hi = f.lport.hi;
    if (seed) {
        e.flags |= FL_F_SEEDED;
        e.seed = *seed ^ (static_cast<uint64_t>(slot) << 48);
    } else {
        // Per-flow draws still need a per-run salt, or every run would pick
        // the same flows.
        e.seed = (static_cast<uint64_t>(getpid()) << 32) ^ monotonic_ns();
    }
    if (f.cidr) {
        e.family = static_cast<uint8_t>(f.cidr->family);
        std::copy(f.cidr->addr.begin(), f.cidr->addr.end(), e.raddr);
        std::copy(f.cidr->mask.begin(), f.cidr->mask.end(), e.rmask);
    }
    // What the programs do and check: the registry's row (faults.cpp).
    e.action = f.def->action;
    e.match = f.def->match;
    e.err = f.err;
    e.delay_ns = static_cast<uint64_t>(f.delay.count());
    e.jitter_ns = static_cast<uint64_t>(f.jitter.count());
    e.ops = f.ops;
    e.any_file = f.any_file ? 1 : 0;
    e.n_paths = static_cast<uint16_t>(f.paths.size());
    if (e.match & FL_M_PAGES) {
        // The kernel counts the request in pages: a request of exactly
        // min= bytes qualifies.
        const auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
        e.min_pages = (f.min_bytes + page - 1) / page;
    }
    if (f.is_dns()) {
        e.qtype = f.qtype;
        for (const auto& d : f.domains) {
            bool suffix = d.rfind("*.", 0) == 0;
            if (suffix)
                e.suffix_mask |= static_cast<uint8_t>(1u << e.n_names);
            e.dns_names[e.n_names++] = dns_name_hash(suffix ? std::string_view(d).substr(2) : std::string_view(d));
        }
    }
    return e;
}

namespace {

std::vector<fl_hook> hooks_of(const FaultSpec& f) {
    switch (f.def->hook) {
    case FaultHook::connect:
        return {FL_HOOK_CONNECT};
    case FaultHook::mem:
        return {FL_HOOK_MEM};
    case FaultHook::slab:
        return {FL_HOOK_SLAB};
    case FaultHook::bio:
        return {FL_HOOK_BIO};
    case FaultHook::file:
        return {FL_HOOK_FILE};
    case FaultHook::packet:
        break;
    }
    std::vector<fl_hook> h;
    if (f.dir_mask & FL_DIR_EGRESS)
        h.push_back(FL_HOOK_EGRESS);
    if (f.dir_mask & FL_DIR_INGRESS)
        h.push_back(FL_HOOK_INGRESS);
    return h;
}

} // namespace

struct Session::Impl {
    SessionOptions opts;
    SessionPlan plan;
    std::string id;
    uint64_t start_ns = 0;
    std::optional<uint64_t> end_ns;
    Nanos hold{0}; // the longest a packet can be held: how long an fq may need to drain
    // Destruction order matters: links go first (members are destroyed in
    // reverse), then tc filters, then (in the destructor) the fq qdiscs no
    // other session uses, then the record; the maps last.
    std::unique_ptr<bpf::Object> obj;
    std::vector<bpf::TcAttachment> tc;
    std::vector<bpf::Link> links;
    SessionRecord rec; // as published for `faultline status`
    bool published = false;
    bool armed = false;
    uint64_t lease_ends_ns = 0;            // the deadline arm() or the last renew() wrote
    std::map<fl_hook, fl_index_val> index; // what arm() makes live
    // Delays not held: the devices already warned about, per slot.
    std::set<std::tuple<uint32_t, uint32_t, uint32_t>> warned_not_held;

    void warn_not_held();

    uint64_t deadline(uint64_t now) const {
        uint64_t d = now + static_cast<uint64_t>(opts.lease.count());
        return end_ns ? std::min(d, *end_ns) : d;
    }

    ~Impl() {
        links.clear();
        crashpoint("teardown-links");
        if (!published) {
            tc.clear();
            return;
        }
        try {
            // Under the lock: the last live session that lists a device
            // removes faultline's fq there (an administrator's stays), and
            // the last one on a clsact removes it.
            StateLock lock;
            tc.clear();
            crashpoint("teardown-tc");
            for (const auto& dev : rec.fq_devices) {
                if (fq_in_use_by_others(dev, rec.netns_ino, rec.id))
                    continue;
                try {
                    remove_root_fq(dev, opts.netns, hold + std::chrono::milliseconds(100));
                } catch (const Error&) {
                }
                crashpoint("teardown-fq");
            }
            remove_record(id);
        } catch (const Error&) {
            // The state directory is unusable: the sentinel or gc retries.
        }
    }
};

Session::Session(SessionOptions opts) : impl_(std::make_unique<Impl>()) {
    Impl& s = *impl_;
    s.opts = std::move(opts);
    s.id = new_session_id();
    const auto& faults = s.opts.faults;
    refuse_host_wide(s.opts.target, s.opts.allow_host_wide);
    // Everything decided before anything is loaded; from here the plan is
    // carried out.
    s.plan = plan_session(s.opts, machine_environment());
    const SessionPlan& plan = s.plan;
    s.hold = plan.hold;
    const auto& progs = plan.programs;

    ensure_sentinel(); // before anything that outlives this process
    s.obj = bpf::Object::load(progs);
    for (const auto& k : plan.paths)
        s.obj->add_path(k);
    // An error answer waits this long for the answer it rewrites (resolvers
    // give up after a few seconds; an experiment's own deadline comes first).
    if (!plan.tc_devices.empty())
        s.obj->set_answer_wait(30'000'000'000ull);
    s.start_ns = monotonic_ns();
    if (s.opts.duration)
        s.end_ns = s.start_ns + static_cast<uint64_t>(s.opts.duration->count());

    // Maps first, with deadlines, then the attachments that make them live.
    // Unarmed, the index stays empty and no depth is targeted: the programs
    // are attached but return at once.
    std::map<fl_hook, fl_index_val>& index = s.index;
    for (uint32_t slot = 0; slot < faults.size(); slot++) {
        fl_experiment e = make_experiment(faults[slot], s.opts.target, s.opts.seed, slot);
        if (s.opts.shadow)
            e.flags |= FL_F_SHADOW;
        e.dev = plan.bio_devices[slot];
        e.cache = plan.caches[slot];
        if (e.cache)
            e.match |= FL_M_CACHE;
        e.expires = s.obj->deadline_jiffies(s.deadline(s.start_ns));
        s.obj->set_experiment(slot, e);
        for (auto h : hooks_of(faults[slot])) {
            auto& v = index[h];
            v.slots[v.n++] = slot;
        }
    }
    if (s.opts.armed)
        arm();

    // Publish the session before touching anything that can outlive this
    // process (qdiscs, tc filters), listing each device before it is
    // touched, so that its sentinel (or gc) knows what to undo whenever the
    // loader dies.
    SessionRecord& rec = s.rec;
    rec.id = s.id;
    rec.pid = getpid();
    rec.pid_start = process_start_time(rec.pid);
    rec.cgroup = s.opts.target.path;
    rec.cgroup_id = s.opts.target.id;
    auto ids = s.obj->map_ids();
    rec.config_map_id = ids.config;
    rec.counters_map_id = ids.counters;
    rec.stopped_map_id = ids.stopped;
    rec.started_unix = time(nullptr);
    rec.ends_unix = s.opts.duration
                        ? rec.started_unix + std::chrono::duration_cast<std::chrono::seconds>(*s.opts.duration).count()
                        : 0;
    for (uint32_t slot = 0; slot < faults.size(); slot++)
        rec.experiments.push_back({fmt::format("{}.{}", s.id, slot), faults[slot].text, slot});
    rec.netns = s.opts.netns;
    rec.netns_ino = netns_ino(s.opts.netns);
    write_record(rec);
    s.published = true;
    crashpoint("session-recorded");

    if (!plan.fq_devices.empty()) {
        StateLock lock; // no other session decides to remove an fq meanwhile
        for (const auto& dev : plan.fq_devices) {
            rec.fq_devices.push_back(dev);
            write_record(rec);
            crashpoint("fq-recorded");
            ensure_root_fq(dev, s.opts.netns);
            crashpoint("fq-added");
            // Delays are counted as injected only on the devices listed
            // here (the program checks each delayed packet's device).
            int idx = 0;
            {
                NetnsScope in(s.opts.netns);
                idx = ifindex_of(dev);
            }
            s.obj->add_held_device(static_cast<uint32_t>(rec.netns_ino), static_cast<uint32_t>(idx));
        }
    }
    // The rewriting program before the deciding one: it acts only on what
    // the cgroup program tells it. Each filter is recorded before it is
    // added (a clsact filter outlives the process; a tcx link does not).
    if (!plan.tc_devices.empty()) {
        StateLock lock; // clsact: "the last session removes it" decided alone
        for (const auto& dev : plan.tc_devices) {
            bpf::TcFilter intent = s.obj->tc_intent(dev, s.opts.netns);
            rec.tc_filters.push_back({intent.dev, intent.handle, 0, intent.created_clsact, intent.prog_id});
            write_record(rec);
            crashpoint("tc-recorded");
            s.tc.push_back(s.obj->attach_tc(intent));
            crashpoint("tc-attached");
            const auto& f = s.tc.back().filter();
            if (s.tc.back().is_link())
                rec.tc_filters.pop_back();
            else
                rec.tc_filters.back() = {f.dev, f.handle, f.priority, f.created_clsact, f.prog_id};
            write_record(rec);
        }
    }
    for (auto p : progs) {
        if (bpf::Object::is_trace(p))
            s.links.push_back(s.obj->attach_trace(p)); // every task; picks by cgroup
        else if (p != bpf::Program::tc_ingress)
            s.links.push_back(s.obj->attach_cgroup(p, s.opts.target.path));
    }
    crashpoint("attached");
}

Session::~Session() = default;

const std::string& Session::id() const {
    return impl_->id;
}
const CgroupRef& Session::target() const {
    return impl_->opts.target;
}
const std::vector<std::string>& Session::notes() const {
    return impl_->plan.notes;
}

void Session::arm() {
    Impl& s = *impl_;
    if (s.armed)
        return;
    s.armed = true;
    s.start_ns = monotonic_ns();
    if (s.opts.duration)
        s.end_ns = s.start_ns + static_cast<uint64_t>(s.opts.duration->count());
    s.lease_ends_ns = s.deadline(s.start_ns);
    for (uint32_t slot = 0; slot < s.opts.faults.size(); slot++) {
        fl_experiment e = s.obj->experiment(slot);
        e.expires = s.obj->deadline_jiffies(s.lease_ends_ns);
        s.obj->set_experiment(slot, e);
    }
    for (auto& [hook, val] : s.index)
        s.obj->set_index(s.opts.target.id, static_cast<uint32_t>(hook), val);
    s.obj->set_levels(1u << s.opts.target.level);
}

void Session::renew() {
    Impl& s = *impl_;
    check_sentinel();
    // A delay is held only while fq is the root (sch_fq honours the
    // departure time; the kernel's default qdiscs ignore it): an fq that
    // somebody removed ends the session rather than let it count delays
    // that do not happen.
    for (const auto& dev : s.rec.fq_devices)
        if (!root_is_fq(dev, s.opts.netns))
            throw Error(ErrorKind::system,
                        fmt::format("the fq qdisc on {}{} was removed while session {} used it: its delays are no "
                                    "longer held, so the session ends",
                                    dev, s.opts.netns.empty() ? "" : " (netns " + s.opts.netns + ")", s.id),
                        "something replaced the root qdisc (tc qdisc del/replace); start the experiment again");
    if (!s.armed)
        return; // nothing live yet: arm() writes the first deadlines
    uint64_t now = monotonic_ns();
    // A loader that did not run for a lease (stopped, frozen, starved of
    // CPU) lost its faults at the kernel's deadline; this renewal brings
    // them back. The counters cannot show the gap: say it.
    if (now > s.lease_ends_ns && (!s.end_ns || s.lease_ends_ns < *s.end_ns))
        fmt::print(stderr,
                   "faultline: warning: session {}: faultline did not run for {:.1f} s (stopped, frozen or starved of "
                   "CPU): its faults were off for {:.1f} s from the end of their lease, and are back now\n",
                   s.id,
                   static_cast<double>(now - (s.lease_ends_ns - static_cast<uint64_t>(s.opts.lease.count()))) / 1e9,
                   static_cast<double>(now - s.lease_ends_ns) / 1e9);
    s.lease_ends_ns = s.deadline(now);
    for (uint32_t slot = 0; slot < s.opts.faults.size(); slot++) {
        // The map is the state: `faultline stop` may have disabled the
        // experiment (deadline 0), and then it is never brought back.
        fl_experiment e = s.obj->experiment(slot);
        if (e.expires == 0 || s.obj->stopped(slot))
            continue;
        e.expires = s.obj->deadline_jiffies(s.deadline(now));
        s.obj->set_experiment(slot, e);
    }
    s.warn_not_held();
}

namespace {

// A network namespace by its inode, as a user would name it for --netns:
// its `ip netns` name, else the namespace of a process of the target.
std::string name_netns(uint32_t inum, const std::string& cgroup_path, std::string* flag) {
    if (DIR* d = opendir("/run/netns")) {
        while (dirent* e = readdir(d)) {
            struct stat st {};
            std::string p = std::string("/run/netns/") + e->d_name;
            if (e->d_name[0] != '.' && stat(p.c_str(), &st) == 0 && st.st_ino == inum) {
                closedir(d);
                *flag = fmt::format("--netns {}", e->d_name);
                return fmt::format("'{}' (ip netns)", e->d_name);
            }
        }
        closedir(d);
    }
    std::ifstream procs(cgroup_path + "/cgroup.procs");
    for (pid_t pid; procs >> pid;) {
        std::string p = fmt::format("/proc/{}/ns/net", pid);
        if (netns_ino(p) == inum) {
            *flag = fmt::format("--netns {}", p);
            return fmt::format("{} (of the target's pid {})", inum, pid);
        }
    }
    *flag = "--netns /proc/PID/ns/net (PID: a process of the target)";
    return std::to_string(inum);
}

} // namespace

// A delay that matched but left by a device without faultline's fq was not
// held (the kernel counted it as not_held, not as injected): said once per
// experiment and device, at the first renewal that sees it, with what to do.
void Session::Impl::warn_not_held() {
    for (uint32_t slot = 0; slot < opts.faults.size(); slot++) {
        const auto& f = opts.faults[slot];
        if (!f.is_delay() || opts.shadow)
            continue;
        fl_counters c = obj->counters(slot);
        if (!c.not_held)
            continue;
        fl_dev_key at = obj->not_held_at(slot);
        if (!warned_not_held.insert({slot, at.netns, at.ifindex}).second)
            continue;
        std::string where, hint;
        if (at.netns == static_cast<uint32_t>(rec.netns_ino)) {
            char name[IF_NAMESIZE] = {};
            {
                NetnsScope in(opts.netns);
                if (!if_indextoname(at.ifindex, name))
                    snprintf(name, sizeof name, "ifindex %u", at.ifindex);
            }
            where = fmt::format("{}, which the experiment does not name", name);
            hint = fmt::format("add dev={} to the fault", name);
        } else {
            std::string flag;
            where = fmt::format("ifindex {} of network namespace {}, not the one faultline works in", at.ifindex,
                                name_netns(at.netns, opts.target.path, &flag));
            hint = fmt::format("give the target's namespace: {}", flag);
        }
        fmt::print(stderr,
                   "faultline: warning: {}: {} delays not held: the target's packets leave by {} (no fq of "
                   "faultline's there); they are counted as `not held`, not as injected\n"
                   "faultline: hint: {}\n",
                   f.text, c.not_held, where, hint);
    }
}

void Session::set_percent(size_t slot, double percent) {
    Impl& s = *impl_;
    if (slot >= s.opts.faults.size())
        throw Error(ErrorKind::usage, fmt::format("no experiment {} in session {}", slot, s.id));
    if (!(percent >= 0 && percent <= 100))
        throw Error(ErrorKind::usage, fmt::format("{}% is not a percentage", percent));
    auto& f = s.opts.faults[slot];
    fl_experiment e = s.obj->experiment(static_cast<uint32_t>(slot));
    e.threshold = percent_to_threshold(percent);
    if (e.expires != 0 && !s.obj->stopped(static_cast<uint32_t>(slot))) // `faultline stop` disabled it: leave it so
        s.obj->set_experiment(static_cast<uint32_t>(slot), e);
    // The spec text follows, for stats and `faultline status`.
    std::string pct = "@" + format_percent(percent);
    size_t at = f.text.find('@'), end = f.text.find('%', at);
    if (at != std::string::npos && end != std::string::npos)
        f.text = f.text.substr(0, at) + pct + f.text.substr(end + 1);
    f.percent = percent;
    f.threshold = e.threshold;
    if (slot < s.rec.experiments.size()) {
        s.rec.experiments[slot].spec = f.text;
        write_record(s.rec);
    }
}

void Session::end() {
    Impl& s = *impl_;
    auto ids = s.obj->map_ids();
    for (uint32_t slot = 0; slot < s.opts.faults.size(); slot++)
        bpf::disable_experiment(ids.config, ids.stopped, slot);
}

std::optional<Nanos> Session::remaining() const {
    if (!impl_->end_ns)
        return std::nullopt;
    uint64_t now = monotonic_ns();
    return Nanos(now >= *impl_->end_ns ? 0 : static_cast<int64_t>(*impl_->end_ns - now));
}

std::vector<ExperimentStats> Session::stats() const {
    std::vector<ExperimentStats> out;
    for (uint32_t slot = 0; slot < impl_->opts.faults.size(); slot++) {
        const auto& f = impl_->opts.faults[slot];
        out.push_back({.id = fmt::format("{}.{}", impl_->id, slot),
                       .spec = f.text,
                       .percent = f.percent,
                       .counters = impl_->obj->counters(slot)});
    }
    return out;
}

} // namespace faultline
