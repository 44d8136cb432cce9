// SPDX-License-Identifier: Apache-2.0
#include "faultline/plan.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>

#include "faultline/error.hpp"
#include "faultline/qdisc.hpp"

namespace faultline {

namespace {

// The programs a fault needs (a rewrite also tc ingress: added where the
// devices are known).
void add_programs(const FaultSpec& f, std::set<bpf::Program>& progs) {
    switch (f.def->hook) {
    case FaultHook::connect:
        progs.insert({bpf::Program::connect4, bpf::Program::connect6});
        return;
    case FaultHook::mem:
        progs.insert(bpf::Program::vm_enough);
        return;
    case FaultHook::slab:
        progs.insert(bpf::Program::failslab);
        return;
    case FaultHook::bio:
        progs.insert(bpf::Program::fail_bio);
        return;
    case FaultHook::file:
        if (f.ops & FL_OP_OPEN)
            progs.insert(bpf::Program::file_open);
        if (f.ops & (FL_OP_READ | FL_OP_WRITE))
            progs.insert(bpf::Program::file_perm);
        if (f.ops & FL_OP_FSYNC)
            progs.insert({bpf::Program::fsync, bpf::Program::fdatasync});
        return;
    case FaultHook::packet:
        if (f.dir_mask & FL_DIR_EGRESS)
            progs.insert(bpf::Program::skb_egress);
        if (f.dir_mask & FL_DIR_INGRESS)
            progs.insert(bpf::Program::skb_ingress);
        return;
    }
}

void require(const Environment& env, const std::string& row) {
    FaultSupport s = env.support(row);
    if (!s.available)
        throw unsupported_error(row, s, env.kernel());
}

// In the host's network namespace a delay goes only on the devices the user
// names, or those the routing table sends its cidr= by: fq on every device
// would re-queue every tenant's traffic (and replace a NIC's multiqueue
// root). A container's namespace (--netns) is the container's own: all of
// its devices are its.
std::vector<std::string> delay_devices(const FaultSpec& f, const SessionOptions& opts, const Environment& env,
                                       bool host_ns, std::vector<std::string>& notes) {
    if (!f.devices.empty())
        return f.devices;
    if (!host_ns)
        return env.up_devices(opts.netns);
    if (!f.cidr)
        throw Error(ErrorKind::usage,
                    fmt::format("{}: in the host's network namespace faultline installs sch_fq only on devices "
                                "you name",
                                f.name()),
                    "add dev=IFACE[+IFACE] (the devices the target's packets leave by: `ip route get ADDR` "
                    "names it; dev=lo for loopback), or cidr=ADDR/LEN (faultline then asks the routing table), "
                    "or give the container's namespace with --netns");
    std::string dev = env.route_device(*f.cidr, opts.netns);
    if (dev.empty())
        throw Error(ErrorKind::usage, fmt::format("{}: no route to {}", f.name(), f.cidr->text),
                    "name the device the target's packets leave by with dev=IFACE");
    notes.push_back(fmt::format("{}: sch_fq on {}, the device the routing table sends {} by (packets that leave by "
                                "another are counted as not held)",
                                f.name(), dev, f.cidr->text));
    return {dev};
}

// Answers are rewritten where they arrive: on every device of the namespace
// with Ethernet framing (the tc program's), or on those named.
void rewrite_devices(const FaultSpec& f, const SessionOptions& opts, const Environment& env,
                     std::set<std::string>& devs, std::vector<std::string>& notes) {
    if (f.devices.empty()) {
        for (const auto& d : env.up_devices(opts.netns)) {
            if (env.ethernet_framing(d, opts.netns))
                devs.insert(d);
            else
                notes.push_back(fmt::format("{} leaves answers arriving on {} unchanged (no Ethernet framing, which "
                                            "the tc program reads)",
                                            f.name(), d));
        }
        return;
    }
    for (const auto& d : f.devices) {
        if (!env.ethernet_framing(d, opts.netns))
            throw Error(ErrorKind::unsupported, fmt::format("{}: device {} has no Ethernet framing", f.name(), d),
                        "the tc program that rewrites answers reads Ethernet frames (Ethernet, veth, loopback "
                        "devices); name another device with dev=");
        devs.insert(d);
    }
}

// disk.bio finds a bio's cgroup through the io controller (blkcg): without
// the controller on the target, its I/O is charged to an ancestor and no
// bio would ever be the target's.
void require_io_controller(const CgroupRef& target, const Environment& env) {
    if (env.controllers(target.path).count("io"))
        return;
    throw Error(
        ErrorKind::usage,
        fmt::format("disk.bio: the io controller is not enabled for {}: its block I/O is charged to an ancestor",
                    target.path),
        fmt::format("enable it: echo +io > {}/cgroup.subtree_control (and so on up from the root)",
                    target.path.substr(0, target.path.rfind('/'))));
}

// disk.bio's dev= as the kernel names the device (dev_t: MAJOR << 20 |
// MINOR). A device that backs a mounted file system is refused unless the
// user forces it: even with metadata bios spared, a file system whose data
// reads fail is a shared risk.
uint32_t bio_device(const FaultSpec& f, bool force, const Environment& env) {
    unsigned maj = 0, min = 0;
    if (f.bio_dev[0] == '/') {
        auto d = env.block_device(f.bio_dev);
        if (!d)
            throw Error(ErrorKind::usage, fmt::format("disk.bio: dev={} is not a block device", f.bio_dev),
                        "dev= names a block device: /dev/NAME or MAJOR:MINOR (lsblk shows them)");
        std::tie(maj, min) = *d;
    } else if (sscanf(f.bio_dev.c_str(), "%u:%u", &maj, &min) != 2 || maj >= 4096 || min >= (1u << 20)) {
        throw Error(ErrorKind::usage, fmt::format("disk.bio: dev={} is not MAJOR:MINOR", f.bio_dev),
                    "dev= names a block device: /dev/NAME or MAJOR:MINOR (lsblk shows them)");
    }
    if (std::string mnt = env.mounted_on(maj, min); !mnt.empty() && !force)
        throw Error(ErrorKind::usage,
                    fmt::format("disk.bio: device {}:{} backs a mounted file system ({})", maj, min, mnt),
                    "failing its I/O can hurt everyone who uses that file system; use a device nothing mounts "
                    "(a loop or null_blk device), or say --force");
    return (maj << 20) | min;
}

// mem.slab's cache=, as the program hashes the kmem cache's name (abi.h). A
// name that is only an alias (SLUB merges caches of one size and flags into
// one, named after the first) would never match: refused, with what to do.
uint64_t slab_cache(const FaultSpec& f, const Environment& env) {
    if (f.cache.empty())
        return 0;
    switch (env.slab_cache(f.cache)) {
    case Environment::Cache::listed:
        break;
    case Environment::Cache::merged:
        throw Error(ErrorKind::usage,
                    fmt::format("mem.slab: cache {} is merged into another one (SLUB merges caches of one size and "
                                "flags): its allocations are made under that cache's name",
                                f.cache),
                    "name a cache /proc/slabinfo lists, or boot with slab_nomerge to keep caches apart");
    case Environment::Cache::none:
        throw Error(ErrorKind::usage, fmt::format("mem.slab: no kmem cache named {}", f.cache),
                    "cache= names a cache as /proc/slabinfo lists it (first column)");
    }
    uint64_t h = FL_DNS_HASH_INIT;
    for (char c : f.cache)
        h = fl_name_hash_step(h, static_cast<uint8_t>(c));
    return h;
}

// The inodes of a disk fault's path= filters, as the kernel names them
// (super_block.s_dev, i_ino), resolved in faultline's mount namespace now.
void add_path_keys(const FaultSpec& f, uint32_t slot, const Environment& env, std::vector<fl_path_key>& keys) {
    for (const auto& p : f.paths) {
        auto id = env.file_id(p);
        if (id.err)
            throw Error(ErrorKind::usage, fmt::format("{}: path={}: {}", f.name(), p, std::strerror(id.err)),
                        "path= names an existing file or directory (as faultline sees it: for a container, its "
                        "root as seen from here, e.g. /proc/PID/root/data)");
        fl_path_key k{};
        k.slot = slot;
        k.dev = id.dev;
        k.ino = id.ino;
        keys.push_back(k);
    }
}

} // namespace

SessionPlan plan_session(const SessionOptions& opts, const Environment& env) {
    const auto& faults = opts.faults;
    if (faults.empty())
        throw Error(ErrorKind::usage, "no fault given", "add one or more --fault SPEC, e.g. --fault net.drop@1%");
    if (faults.size() > FL_MAX_PER_TARGET)
        throw Error(ErrorKind::usage,
                    fmt::format("{} faults on one cgroup; at most {} are supported", faults.size(), FL_MAX_PER_TARGET));
    if (opts.target.level >= FL_MAX_LEVELS)
        throw Error(ErrorKind::usage, fmt::format("cgroup {} is {} levels deep; faultline targets up to depth {}",
                                                  opts.target.path, opts.target.level, FL_MAX_LEVELS - 1));
    if (opts.duration && (opts.duration->count() <= 0 || *opts.duration > max_duration))
        throw Error(ErrorKind::usage, "duration out of range", "--for takes 1ms to 7 days");

    // What this kernel cannot do is said first, before the devices and
    // options of a fault it could not inject anyway.
    for (const auto& f : faults) // a shadow delay holds nothing: it needs cgroup_skb, not sch_fq
        require(env, std::string(f.def->probe_name(opts.shadow)));

    SessionPlan plan;
    std::set<std::string> fq_devs, tc_devs;
    const bool host_ns = env.host_netns(opts.netns);
    for (const auto& f : faults) {
        add_programs(f, plan.programs);
        if (f.is_delay() && !opts.shadow) {
            auto devs = delay_devices(f, opts, env, host_ns, plan.notes);
            fq_devs.insert(devs.begin(), devs.end());
            plan.hold = std::max(plan.hold, f.delay + f.jitter);
        }
        if (f.def->action == FL_ACT_REWRITE && !opts.shadow) {
            plan.programs.insert(bpf::Program::tc_ingress);
            rewrite_devices(f, opts, env, tc_devs, plan.notes);
        }
    }
    plan.fq_devices.assign(fq_devs.begin(), fq_devs.end());
    plan.tc_devices.assign(tc_devs.begin(), tc_devs.end());
    for (uint32_t slot = 0; slot < faults.size(); slot++)
        add_path_keys(faults[slot], slot, env, plan.paths);
    for (const auto& f : faults)
        if (f.is_disk() && (f.ops & FL_OP_FSYNC))
            require(env, disk_fsync_row);
    plan.caches.assign(faults.size(), 0);
    plan.bio_devices.assign(faults.size(), 0);
    for (uint32_t slot = 0; slot < faults.size(); slot++) {
        if (faults[slot].def->hook == FaultHook::slab)
            plan.caches[slot] = slab_cache(faults[slot], env);
        if (faults[slot].def->hook == FaultHook::bio) {
            require_io_controller(opts.target, env);
            plan.bio_devices[slot] = bio_device(faults[slot], opts.force, env);
        }
    }
    return plan;
}

std::string describe_plan(const SessionPlan& plan, const SessionOptions& opts) {
    std::string out;
    const std::string ns = opts.netns.empty() ? "" : fmt::format(" (netns {})", opts.netns);
    for (auto p : plan.programs) {
        if (p == bpf::Program::tc_ingress)
            continue;
        if (bpf::Object::is_trace(p))
            out += fmt::format("  attach {}: every task, acting on the target's only\n", bpf::program_name(p));
        else
            out += fmt::format("  attach {} to cgroup {}\n", bpf::program_name(p), opts.target.path);
    }
    for (const auto& d : plan.fq_devices)
        out += fmt::format("  root qdisc of {}{}: sch_fq (as found, if it is already; put back when the last session "
                           "using it ends)\n",
                           d, ns);
    for (const auto& d : plan.tc_devices)
        out += fmt::format("  attach {} to {}{}: rewrites the DNS answers the target's queries get\n",
                           bpf::program_name(bpf::Program::tc_ingress), d, ns);
    for (const auto& k : plan.paths)
        out += fmt::format("  {}: path filter on inode {} of device {}:{}\n", opts.faults[k.slot].name(), k.ino,
                           k.dev >> 20, k.dev & 0xfffff);
    for (size_t slot = 0; slot < plan.bio_devices.size(); slot++)
        if (plan.bio_devices[slot])
            out += fmt::format("  {}: block device {}:{}\n", opts.faults[slot].name(), plan.bio_devices[slot] >> 20,
                               plan.bio_devices[slot] & 0xfffff);
    for (const auto& n : plan.notes)
        out += fmt::format("  note: {}\n", n);
    return out;
}

namespace {

class Machine final : public Environment {
  public:
    std::string kernel() const override {
        utsname u{};
        uname(&u);
        return u.release;
    }
    FaultSupport support(const std::string& row) const override { return probe_fault(row); }
    bool host_netns(const std::string& netns) const override { return netns_ino(netns) == netns_ino("/proc/1/ns/net"); }
    std::vector<std::string> up_devices(const std::string& netns) const override {
        return faultline::up_devices(netns);
    }
    std::string route_device(const Cidr& to, const std::string& netns) const override {
        return faultline::route_device(to.family == FL_FAMILY_V4 ? AF_INET : AF_INET6, to.addr.data(), netns);
    }
    bool ethernet_framing(const std::string& dev, const std::string& netns) const override {
        return bpf::has_ethernet_framing(dev, netns);
    }
    std::set<std::string> controllers(const std::string& cgroup_path) const override {
        std::ifstream in(cgroup_path + "/cgroup.controllers");
        std::set<std::string> out;
        for (std::string c; in >> c;)
            out.insert(c);
        return out;
    }
    FileId file_id(const std::string& path) const override {
        struct stat st {};
        if (stat(path.c_str(), &st) != 0)
            return {.err = errno};
        return {.dev = (major(st.st_dev) << 20) | minor(st.st_dev), .ino = st.st_ino}; // the kernel's dev_t (MKDEV)
    }
    std::optional<std::pair<unsigned, unsigned>> block_device(const std::string& path) const override {
        struct stat st {};
        if (stat(path.c_str(), &st) != 0 || !S_ISBLK(st.st_mode))
            return std::nullopt;
        return std::pair{major(st.st_rdev), minor(st.st_rdev)};
    }
    std::string mounted_on(unsigned maj, unsigned min) const override {
        std::ifstream mi("/proc/self/mountinfo");
        std::string line, want = fmt::format("{}:{}", maj, min);
        while (std::getline(mi, line)) {
            std::istringstream l(line);
            std::string id, parent, dev, root, mnt;
            l >> id >> parent >> dev >> root >> mnt;
            if (dev == want)
                return mnt;
        }
        return {};
    }
    Cache slab_cache(const std::string& name) const override {
        std::ifstream in("/proc/slabinfo");
        for (std::string line; std::getline(in, line);)
            if (line.compare(0, name.size() + 1, name + " ") == 0)
                return Cache::listed;
        struct stat st {};
        if (lstat(("/sys/kernel/slab/" + name).c_str(), &st) == 0 && S_ISLNK(st.st_mode))
            return Cache::merged;
        return Cache::none;
    }
};

} // namespace

const Environment& machine_environment() {
    static const Machine m;
    return m;
}

} // namespace faultline
