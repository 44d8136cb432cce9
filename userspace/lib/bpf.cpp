// SPDX-License-Identifier: Apache-2.0
#include "faultline/bpf.hpp"

#include <algorithm>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "faultline/error.hpp"
#include "faultline/index.hpp"
#include "faultline/qdisc.hpp"
#include "fl_bpf.skel.h"

namespace faultline::bpf {
namespace {

bool g_verbose = false;

// Out of memory, descriptors or buffers: the kernel has the feature but
// not the room right now. Said as such (exit 1), never as a feature the
// kernel lacks (exit 3, which a user would not retry).
bool is_shortage(int err) {
    return err == ENOMEM || err == EMFILE || err == ENFILE || err == EAGAIN || err == ENOBUFS;
}
// While a load runs: libbpf's messages, for the verifier's reason if the
// kernel refuses a program.
thread_local std::string* g_capture = nullptr;

// libbpf's messages (verifier logs included) only with --verbose; errors
// reach the user as faultline::Error with a hint instead.
int print_fn(enum libbpf_print_level, const char* fmt_, va_list args) {
    va_list copy;
    va_copy(copy, args);
    if (g_capture && g_capture->size() < (1u << 24)) {
        // one message can be a whole verifier log
        int n = vsnprintf(nullptr, 0, fmt_, copy);
        va_end(copy);
        va_copy(copy, args);
        if (n > 0) {
            std::string msg(static_cast<size_t>(n) + 1, '\0');
            vsnprintf(msg.data(), msg.size(), fmt_, copy);
            msg.pop_back();
            *g_capture += msg;
        }
    }
    va_end(copy);
    if (g_verbose)
        vfprintf(stderr, fmt_, args);
    return 0;
}

// The verifier's own words from a captured load log: the line before its
// "processed N insns" summary (e.g. "R2 invalid mem access 'scalar'").
std::string verifier_reason(const std::string& log) {
    size_t at = log.find("\nprocessed ");
    if (at == std::string::npos)
        return {};
    size_t start = log.rfind('\n', at - 1);
    std::string line =
        log.substr(start == std::string::npos ? 0 : start + 1, at - (start == std::string::npos ? 0 : start + 1));
    return line.size() > 200 ? line.substr(0, 200) : line;
}

struct PrintInit {
    PrintInit() { libbpf_set_print(print_fn); }
} g_print_init;

bpf_program* prog_of(fl_bpf* s, Program p) {
    switch (p) {
    case Program::skb_egress:
        return s->progs.fl_skb_egress;
    case Program::skb_ingress:
        return s->progs.fl_skb_ingress;
    case Program::connect4:
        return s->progs.fl_connect4;
    case Program::connect6:
        return s->progs.fl_connect6;
    case Program::tc_ingress:
        return s->progs.fl_tc_ingress;
    case Program::vm_enough:
        return s->progs.fl_vm_enough;
    case Program::file_open:
        return s->progs.fl_file_open;
    case Program::file_perm:
        return s->progs.fl_file_perm;
    case Program::fsync:
        return s->progs.fl_fsync;
    case Program::fdatasync:
        return s->progs.fl_fdatasync;
    case Program::failslab:
        return s->progs.fl_failslab;
    case Program::fail_bio:
        return s->progs.fl_fail_bio;
    }
    return nullptr;
}

std::string load_hint(int err) {
    if (err == EPERM || err == EACCES)
        return "run as root; if you are root, the kernel (lockdown, a security module or a sandbox) "
               "forbids this program type — `faultline probe` shows what is allowed";
    return "run `faultline probe` to see what this kernel supports; add -v for the verifier log";
}

// The ABI header is compiled twice, for BPF and for x86-64: compare each
// shared struct's size in the object's BTF with the C++ sizeof, so a layout
// that differs between the two compilers can never go unnoticed.
void check_abi(const bpf_object* obj) {
    const btf* b = bpf_object__btf(obj);
    if (!b)
        throw Error(ErrorKind::system, "the embedded BPF object has no BTF");
    struct Want {
        const char* name;
        size_t size;
    };
    for (auto w : {Want{"fl_experiment", sizeof(fl_experiment)}, Want{"fl_counters", sizeof(fl_counters)},
                   Want{"fl_index_entry", sizeof(fl_index_entry)}, Want{"fl_index_val", sizeof(fl_index_val)},
                   Want{"fl_clock_sample", sizeof(fl_clock_sample)}, Want{"fl_dns_flow", sizeof(fl_dns_flow)},
                   Want{"fl_dns_pending", sizeof(fl_dns_pending)}}) {
        int id = btf__find_by_name_kind(b, w.name, BTF_KIND_STRUCT);
        long long got = id > 0 ? btf__resolve_size(b, static_cast<uint32_t>(id)) : -1;
        if (got != static_cast<long long>(w.size))
            throw Error(ErrorKind::system,
                        fmt::format("ABI mismatch: struct {} is {} bytes in the BPF object, {} in faultline", w.name,
                                    got, w.size),
                        "rebuild faultline: bpf/ and userspace/ must come from the same include/faultline/abi.h");
    }
}

} // namespace

const char* program_name(Program p) {
    switch (p) {
    case Program::skb_egress:
        return "cgroup_skb/egress";
    case Program::skb_ingress:
        return "cgroup_skb/ingress";
    case Program::connect4:
        return "cgroup/connect4";
    case Program::connect6:
        return "cgroup/connect6";
    case Program::tc_ingress:
        return "tc ingress";
    case Program::vm_enough:
        return "fmod_ret/security_vm_enough_memory_mm";
    case Program::file_open:
        return "fmod_ret/security_file_open";
    case Program::file_perm:
        return "fmod_ret/security_file_permission";
    case Program::fsync:
        return "fmod_ret/__x64_sys_fsync";
    case Program::fdatasync:
        return "fmod_ret/__x64_sys_fdatasync";
    case Program::failslab:
        return "fmod_ret/should_failslab";
    case Program::fail_bio:
        return "fmod_ret/should_fail_bio";
    }
    return "?";
}

void set_verbose(bool on) {
    g_verbose = on;
}

Link::~Link() {
    if (fd_ >= 0)
        close(fd_);
}

struct Object::Impl {
    fl_bpf* skel = nullptr;
    ~Impl() { fl_bpf__destroy(skel); }

    // What the kernel's fl_index holds (this object is its only writer).
    IndexTable index{[this](uint32_t pos, const fl_index_entry& e) {
        if (bpf_map__update_elem(skel->maps.fl_index, &pos, sizeof pos, &e, sizeof e, BPF_ANY))
            throw_errno("write experiment index", errno);
    }};
    // Per slot, what its experiment needs of the fast path (FL_IDX_*): the
    // flags of the index entries that list it.
    std::vector<uint32_t> needs = std::vector<uint32_t>(FL_MAX_EXPERIMENTS);
    uint64_t tick_ns = 0; // 0 until read

    uint32_t flags_of(const fl_index_val& v) const {
        uint32_t f = 0;
        for (uint32_t i = 0; i < v.n && i < FL_MAX_PER_TARGET; i++)
            f |= needs[v.slots[i] & (FL_MAX_EXPERIMENTS - 1)];
        return f;
    }
    fl_clock_sample clock();
};

fl_clock_sample Object::Impl::clock() {
    static const std::vector<uint8_t> packet(64, 0); // any packet: fl_clock ignores it
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(), .data_size_in = static_cast<uint32_t>(packet.size()),
                .repeat = 1);
    if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.fl_clock), &opts))
        throw_errno("BPF_PROG_TEST_RUN fl_clock (read the kernel's clocks)", errno);
    // The test run has returned: the program's stores are complete.
    fl_clock_sample out;
    std::memcpy(&out, const_cast<const fl_clock_sample*>(&skel->bss->fl_clock_now), sizeof out);
    return out;
}

std::unique_ptr<Object> Object::load(const std::set<Program>& programs) {
    std::unique_ptr<Object> o(new Object());
    o->impl_ = std::make_unique<Impl>();
    fl_bpf* s = fl_bpf__open();
    if (!s)
        throw_errno("open the embedded BPF object", errno);
    o->impl_->skel = s;
    check_abi(s->obj);
    // Only the programs asked for: every other one is left out of the load.
    for (int i = 0; i <= static_cast<int>(Program::last); i++)
        bpf_program__set_autoload(prog_of(s, static_cast<Program>(i)), programs.count(static_cast<Program>(i)) > 0);
    // A program of the object the enum does not name would load with every
    // command (and fail where its hook cannot load): refuse that build.
    // fl_clock (the deadline clock sample) always loads.
    size_t autoloaded = 0;
    bpf_program* bp = nullptr;
    bpf_object__for_each_program(bp, s->obj) autoloaded += bp != s->progs.fl_clock && bpf_program__autoload(bp);
    if (autoloaded != programs.size())
        throw Error(ErrorKind::system, "the embedded BPF object has a program faultline::bpf::Program does not name");
    std::string log;
    g_capture = &log;
    int err = fl_bpf__load(s);
    g_capture = nullptr;
    if (err) {
        std::string names;
        for (Program p : programs)
            names += fmt::format("{}{}", names.empty() ? "" : ", ", program_name(p));
        std::string why = verifier_reason(log);
        // libbpf's ESRCH: a tracing program's kernel function is not in the
        // kernel's BTF (renamed, inlined, or absent from this build).
        std::string detail = !why.empty()    ? fmt::format(" (verifier: {})", why)
                             : err == -ESRCH ? " (no such kernel function in its BTF)"
                                             : "";
        if (is_shortage(-err))
            throw Error(ErrorKind::system,
                        fmt::format("the kernel could not load {} now: {}", names, std::strerror(-err)),
                        "the kernel or this process is short of memory or file descriptors (not of a feature): "
                        "free some, or raise the limit, and run faultline again");
        throw Error(err == -EPERM || err == -EACCES ? ErrorKind::permission : ErrorKind::unsupported,
                    fmt::format("the kernel refused to load {}: {}{}", names, std::strerror(-err), detail),
                    load_hint(-err));
    }
    return o;
}

Object::~Object() = default;

Link Object::attach_cgroup(Program p, const std::string& cgroup_path) {
    int cg = open(cgroup_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0)
        throw_errno("open cgroup " + cgroup_path, errno);
    bpf_link* l = bpf_program__attach_cgroup(prog_of(impl_->skel, p), cg);
    int err = l ? 0 : errno;
    close(cg);
    if (!l)
        throw_errno(fmt::format("attach {} to {}", program_name(p), cgroup_path), err);
    // Keep our own fd of the kernel link and free libbpf's wrapper. For fd
    // links, bpf_link__destroy() only closes libbpf's fd: the link lives on
    // through ours. (bpf_link__disconnect() would skip that close and leak an
    // fd that keeps the program attached for the life of the process.)
    int fd = fcntl(bpf_link__fd(l), F_DUPFD_CLOEXEC, 3);
    err = errno;
    bpf_link__destroy(l);
    if (fd < 0)
        throw_errno("dup link fd", err);
    return Link(fd);
}

namespace {

// BPF_TCX_INGRESS (Linux 6.6, commit e420bed02507) is newer than the uapi
// headers and libbpf (1.1) faultline builds with; bpf_link_create passes an
// attach type it does not know straight to the kernel.
constexpr int tcx_ingress = 46;
constexpr uint32_t tc_handle = 0xf17e;

} // namespace

TcAttachment::TcAttachment(TcAttachment&& o) noexcept : filter_(std::move(o.filter_)), link_(o.link_) {
    o.link_ = -1;
    o.filter_.handle = 0;
}

TcAttachment::~TcAttachment() {
    if (link_ >= 0) {
        close(link_);
        return;
    }
    if (filter_.handle)
        try {
            remove_tc_filter(filter_);
        } catch (...) {
        }
}

void remove_tc_filter(const TcFilter& f) {
    NetnsScope in(f.netns);
    unsigned idx = if_nametoindex(f.dev.c_str());
    if (!idx)
        return; // the device is gone, and its filters with it
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(idx), .attach_point = BPF_TC_INGRESS);
    // By program (this session's, whatever priority the kernel gave it),
    // else by handle and priority (records of older versions).
    std::vector<std::pair<uint32_t, uint32_t>> mine;
    if (f.prog_id) {
        for (const auto& c : clsact_filters(static_cast<int>(idx)))
            if (c.prog_id == f.prog_id && c.handle == f.handle)
                mine.emplace_back(c.handle, c.priority);
    } else if (f.priority) {
        mine.emplace_back(f.handle, f.priority);
    }
    for (auto [handle, prio] : mine) {
        LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = prio);
        (void)bpf_tc_detach(&hook, &opts);
    }
    // The qdisc faultline added goes too, unless someone (another session)
    // put filters on it meanwhile.
    if (f.created_clsact && has_clsact(static_cast<int>(idx)) && clsact_filters(static_cast<int>(idx)).empty()) {
        hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
        (void)bpf_tc_hook_destroy(&hook);
    }
}

bool has_ethernet_framing(const std::string& dev, const std::string& netns) {
    NetnsScope in(netns);
    (void)ifindex_of(dev);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw_errno("socket", errno);
    ifreq ifr{};
    std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", dev.c_str());
    int rc = ioctl(fd, SIOCGIFHWADDR, &ifr);
    int err = errno;
    close(fd);
    if (rc)
        throw_errno("read the link type of " + dev, err);
    return ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER || ifr.ifr_hwaddr.sa_family == ARPHRD_LOOPBACK;
}

TcFilter Object::tc_intent(const std::string& dev, const std::string& netns) {
    NetnsScope in(netns);
    int idx = ifindex_of(dev);
    TcFilter f{.dev = dev, .netns = netns, .handle = tc_handle};
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(bpf_program__fd(prog_of(impl_->skel, Program::tc_ingress)), &info, &len))
        throw_errno("read the tc program's id", errno);
    f.prog_id = info.id;
    // A clsact that holds only faultline's filters (another session's) is
    // faultline's too: whichever session ends last removes it.
    if (!has_clsact(idx)) {
        f.created_clsact = true;
    } else {
        auto filters = clsact_filters(idx);
        f.created_clsact = !filters.empty() && std::all_of(filters.begin(), filters.end(), [](const auto& c) {
            return c.name.rfind("fl_tc_ingress", 0) == 0;
        });
    }
    return f;
}

TcAttachment Object::attach_tc(const TcFilter& intent) {
    NetnsScope in(intent.netns);
    const std::string& dev = intent.dev;
    int idx = ifindex_of(dev);
    int fd = bpf_program__fd(prog_of(impl_->skel, Program::tc_ingress));
    TcFilter f = intent;
    // tcx first: a link, gone with the process.
    int link = bpf_link_create(fd, idx, static_cast<bpf_attach_type>(tcx_ingress), nullptr);
    if (link >= 0) {
        int own = fcntl(link, F_DUPFD_CLOEXEC, 3);
        int err = errno;
        close(link);
        if (own < 0)
            throw_errno("dup link fd", err);
        f.handle = 0;
        f.created_clsact = false;
        return TcAttachment(f, own);
    }
    // Before 6.6: a clsact filter (direct action).
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx, .attach_point = BPF_TC_INGRESS);
    int err = bpf_tc_hook_create(&hook);
    if (err && err != -EEXIST)
        throw Error(err == -EPERM                        ? ErrorKind::permission
                    : is_shortage(-err) || err == -EINTR ? ErrorKind::system
                                                         : ErrorKind::unsupported,
                    fmt::format("cannot add a clsact qdisc to {}: {} (tcx: {})", dev, std::strerror(-err),
                                std::strerror(-link)),
                    "dns error answers need tc ingress: tcx (Linux 6.6+) or the clsact qdisc "
                    "(CONFIG_NET_SCH_INGRESS)");
    if (err == 0)
        f.created_clsact = true;
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd, .handle = tc_handle);
    err = bpf_tc_attach(&hook, &opts);
    if (err) {
        if (f.created_clsact && clsact_filters(idx).empty()) {
            hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
            (void)bpf_tc_hook_destroy(&hook);
        }
        throw Error(is_shortage(-err) || err == -EINTR ? ErrorKind::system : ErrorKind::unsupported,
                    fmt::format("cannot attach the tc ingress program to {}: {}", dev, std::strerror(-err)));
    }
    f.handle = opts.handle;
    f.priority = opts.priority;
    return TcAttachment(f, -1);
}

bool Object::is_trace(Program p) {
    switch (p) { // no default: a new program must be sorted here
    case Program::skb_egress:
    case Program::skb_ingress:
    case Program::connect4:
    case Program::connect6:
    case Program::tc_ingress:
        return false;
    case Program::vm_enough:
    case Program::file_open:
    case Program::file_perm:
    case Program::fsync:
    case Program::fdatasync:
    case Program::failslab:
    case Program::fail_bio:
        return true;
    }
    return false;
}

Link Object::attach_trace(Program p) {
    bpf_link* l = bpf_program__attach_trace(prog_of(impl_->skel, p));
    if (!l) {
        int err = errno;
        throw Error(err == EPERM || err == EACCES ? ErrorKind::permission : ErrorKind::unsupported,
                    fmt::format("cannot attach {}: {}", program_name(p), std::strerror(err)), load_hint(err));
    }
    // As for cgroup links: our own fd of the kernel link.
    int fd = fcntl(bpf_link__fd(l), F_DUPFD_CLOEXEC, 3);
    int err = errno;
    bpf_link__destroy(l);
    if (fd < 0)
        throw_errno("dup link fd", err);
    return Link(fd);
}

void Object::set_answer_wait(uint64_t ns) {
    __atomic_store_n(&impl_->skel->bss->fl_rcode_ttl, ns / tick_ns() + 1, __ATOMIC_RELEASE);
}

std::string tc_ingress_problem() {
    return in_scratch_netns([] {
        auto obj = Object::load({Program::tc_ingress});
        auto a = obj->attach_tc(obj->tc_intent("lo", ""));
        return std::string{};
    });
}

void Object::set_experiment(uint32_t slot, const fl_experiment& e) {
    if (bpf_map__update_elem(impl_->skel->maps.fl_config, &slot, sizeof slot, &e, sizeof e, BPF_ANY))
        throw_errno("write experiment config", errno);
    uint32_t needs = 0;
    if (e.sample == FL_SAMPLE_FLOW)
        needs |= FL_IDX_COOKIE;
    if (e.proto_mask != FL_PROTO_ANY || e.family != FL_FAMILY_ANY || e.rport_lo != 0 || e.rport_hi != 0xffff ||
        e.lport_lo != 0 || e.lport_hi != 0xffff)
        needs |= FL_IDX_HEADERS;
    if (e.match & FL_M_DNS)
        needs |= FL_IDX_HEADERS | FL_IDX_DNS;
    if ((e.match & FL_M_HELD) && !(e.flags & FL_F_SHADOW))
        needs |= FL_IDX_HOLD;
    const uint32_t i = slot & (FL_MAX_EXPERIMENTS - 1);
    if (impl_->needs[i] == needs)
        return;
    impl_->needs[i] = needs;
    // Entries listing this slot must (or need no longer) read the cookie or
    // the headers.
    for (uint32_t p = 0; p < impl_->index.size(); p++) {
        fl_index_entry ie = impl_->index.at(p);
        if (ie.cgroup_id == 0 || impl_->flags_of(ie.v) == ie.v.flags)
            continue;
        ie.v.flags = impl_->flags_of(ie.v);
        impl_->index.put(ie);
    }
}

fl_experiment Object::experiment(uint32_t slot) const {
    fl_experiment e{};
    if (bpf_map__lookup_elem(impl_->skel->maps.fl_config, &slot, sizeof slot, &e, sizeof e, 0))
        throw_errno("read experiment config", errno);
    return e;
}

void Object::set_index(uint64_t cgroup_id, uint32_t hook, const fl_index_val& v) {
    if (v.n == 0) {
        delete_index(cgroup_id, hook);
        return;
    }
    if (cgroup_id == 0 || v.n > FL_MAX_PER_TARGET)
        throw Error(ErrorKind::usage, fmt::format("bad index entry: cgroup id {}, {} experiments", cgroup_id, v.n));
    fl_index_entry e{};
    e.cgroup_id = cgroup_id;
    e.hook = hook;
    e.v = v;
    e.v.flags = impl_->flags_of(v);
    impl_->index.put(e);
}

void Object::delete_index(uint64_t cgroup_id, uint32_t hook) {
    impl_->index.erase(cgroup_id, hook);
}

void Object::add_path(const fl_path_key& k) {
    const uint8_t one = 1;
    if (bpf_map_update_elem(bpf_map__fd(impl_->skel->maps.fl_paths), &k, &one, BPF_ANY))
        throw Error(errno == E2BIG ? ErrorKind::usage : ErrorKind::system,
                    fmt::format("cannot add a path= filter: {}", std::strerror(errno)),
                    errno == E2BIG ? fmt::format("at most {} path= filters in all", FL_MAX_PATHS) : "");
}

static fl_counters sum_counters(int fd, uint32_t slot) {
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        throw_errno("count possible CPUs", -ncpu);
    std::vector<fl_counters> per(static_cast<size_t>(ncpu));
    if (bpf_map_lookup_elem(fd, &slot, per.data()))
        throw_errno("read counters", errno);
    fl_counters sum{};
    for (const auto& c : per) {
        sum.evaluated += c.evaluated;
        sum.matched += c.matched;
        sum.injected += c.injected;
        sum.expired += c.expired;
        sum.not_held += c.not_held;
    }
    return sum;
}

fl_counters Object::counters(uint32_t slot) const {
    return sum_counters(bpf_map__fd(impl_->skel->maps.fl_counters), slot);
}

void Object::add_held_device(uint32_t netns, uint32_t ifindex) {
    const fl_dev_key k{.netns = netns, .ifindex = ifindex};
    const uint8_t one = 1;
    if (bpf_map_update_elem(bpf_map__fd(impl_->skel->maps.fl_held), &k, &one, BPF_ANY))
        throw Error(errno == E2BIG ? ErrorKind::usage : ErrorKind::system,
                    fmt::format("cannot list a delay device: {}", std::strerror(errno)),
                    errno == E2BIG ? fmt::format("at most {} devices in all", FL_MAX_HELD_DEVS) : "");
}

fl_dev_key Object::not_held_at(uint32_t slot) const {
    fl_dev_key k{};
    if (bpf_map__lookup_elem(impl_->skel->maps.fl_not_held_at, &slot, sizeof slot, &k, sizeof k, 0))
        throw_errno("read the device a delay was not held on", errno);
    return k;
}

bool Object::stopped(uint32_t slot) const {
    uint32_t v = 0;
    if (bpf_map__lookup_elem(impl_->skel->maps.fl_stopped, &slot, sizeof slot, &v, sizeof v, 0))
        throw_errno("read the stop flag", errno);
    return v != 0;
}

void Object::set_levels(uint32_t mask) {
    __atomic_store_n(&impl_->skel->bss->fl_levels, mask, __ATOMIC_RELEASE);
}

static uint32_t map_id_of(int fd) {
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len))
        throw_errno("read map info", errno);
    return info.id;
}

// The tick is what the kernel reports as the resolution of its coarse
// clocks: clock_getres(CLOCK_MONOTONIC_COARSE) is TICK_NSEC (LOW_RES_NSEC in
// kernel/time/posix-timers.c), the ktime length of one jiffy. Nothing to
// measure, so nothing a loaded machine can disturb.
uint64_t Object::tick_ns() {
    if (impl_->tick_ns)
        return impl_->tick_ns;
    timespec res{};
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &res))
        throw_errno("clock_getres(CLOCK_MONOTONIC_COARSE)", errno);
    uint64_t t = static_cast<uint64_t>(res.tv_sec) * 1000000000ull + static_cast<uint64_t>(res.tv_nsec);
    if (t < 100000 || t > 100000000)
        throw Error(ErrorKind::unsupported,
                    fmt::format("the kernel's tick is {} ns (clock_getres of CLOCK_MONOTONIC_COARSE)", t),
                    "faultline's deadlines count jiffies and expect a tick of 0.1 to 100 ms (HZ 10 to 10000)");
    impl_->tick_ns = t;
    return t;
}

// J(t), the jiffies at time t, satisfies J(t) = j + floor((t - e) / tick)
// where e, the edge at which jiffies became j, lies in
// (ns_before - tick, ns_after]. So J(t) <= j + 1 + floor((t - ns_before) / tick)
// for t < T when D below is one more than that bound at T: the deadline
// never passes early, and passes by T + 2 ticks + (ns_after - u0).
//
// The caller's T is on its CLOCK_MONOTONIC, which a time namespace shifts
// by a constant (unshare -T --monotonic N) while the kernel's clock
// (bpf_ktime_get_ns, jiffies) is not shifted. So only a difference of two
// readings of the caller's clock is used: T - u0, with u0 read just before
// the kernel's sample. The kernel's time at u0 is at most ns_before, so
// T - u0 is at least what is left until T on the kernel's clock: never early.
uint64_t Object::deadline_jiffies(uint64_t monotonic_ns) {
    uint64_t tick = tick_ns();
    timespec u0{};
    clock_gettime(CLOCK_MONOTONIC, &u0);
    fl_clock_sample s = impl_->clock();
    auto ahead = static_cast<int64_t>(
        monotonic_ns - (static_cast<uint64_t>(u0.tv_sec) * 1000000000ull + static_cast<uint64_t>(u0.tv_nsec)));
    int64_t ticks = ahead >= 0 ? ahead / static_cast<int64_t>(tick)
                               : -((-ahead + static_cast<int64_t>(tick) - 1) / static_cast<int64_t>(tick));
    return static_cast<uint64_t>(static_cast<int64_t>(s.jiffies) + ticks + 2);
}

MapIds Object::map_ids() const {
    return {.config = map_id_of(bpf_map__fd(impl_->skel->maps.fl_config)),
            .counters = map_id_of(bpf_map__fd(impl_->skel->maps.fl_counters)),
            .stopped = map_id_of(bpf_map__fd(impl_->skel->maps.fl_stopped))};
}

int Object::map_fd(const char* name) const {
    const bpf_map* m = bpf_object__find_map_by_name(impl_->skel->obj, name);
    return m ? bpf_map__fd(m) : -1;
}

int Object::prog_fd(Program p) const {
    return bpf_program__fd(prog_of(impl_->skel, p));
}

TestRun Object::test_run(Program p, const std::vector<uint8_t>& packet, uint32_t repeat, uint64_t tstamp_in) const {
    __sk_buff ctx{}, ctx_out{};
    ctx.tstamp = tstamp_in;
    std::vector<uint8_t> out(packet.size() + 256);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(), .data_out = out.data(),
                .data_size_in = static_cast<uint32_t>(packet.size()),
                .data_size_out = static_cast<uint32_t>(out.size()), .ctx_in = &ctx, .ctx_out = &ctx_out,
                .ctx_size_in = sizeof ctx, .ctx_size_out = sizeof ctx_out, .repeat = static_cast<int>(repeat));
    if (bpf_prog_test_run_opts(prog_fd(p), &opts))
        throw_errno(fmt::format("BPF_PROG_TEST_RUN {}", program_name(p)), errno);
    out.resize(std::min<size_t>(opts.data_size_out, out.size()));
    return {.retval = opts.retval, .duration_ns = opts.duration, .tstamp = ctx_out.tstamp, .packet = std::move(out)};
}

// A map id from a session record opened only if it still is what the
// record says: an id the kernel reused for another map must not be read
// into (or written from) a buffer sized for ours.
static int open_map_checked(uint32_t id, uint32_t type, uint32_t value_size, const char* name) {
    int fd = bpf_map_get_fd_by_id(id);
    if (fd < 0)
        throw_errno(fmt::format("open {} map {}", name, id), errno);
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != type || info.key_size != sizeof(uint32_t) ||
        info.value_size != value_size || info.max_entries != FL_MAX_EXPERIMENTS ||
        std::string_view(info.name) != name) {
        close(fd);
        throw Error(ErrorKind::system, fmt::format("map {} is not faultline's {} map (the record is stale)", id, name));
    }
    return fd;
}

fl_counters read_counters(uint32_t counters_map_id, uint32_t slot) {
    int fd = open_map_checked(counters_map_id, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(fl_counters), "fl_counters");
    try {
        auto c = sum_counters(fd, slot);
        close(fd);
        return c;
    } catch (...) {
        close(fd);
        throw;
    }
}

void disable_experiment(uint32_t config_map_id, uint32_t stopped_map_id, uint32_t slot) {
    // The flag first: from then on nothing the loader writes can revive the
    // experiment. Then the deadline, so that its events count as expired.
    if (stopped_map_id) {
        int sfd = open_map_checked(stopped_map_id, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), "fl_stopped");
        const uint32_t one = 1;
        int rc = bpf_map_update_elem(sfd, &slot, &one, BPF_EXIST);
        int err = errno;
        close(sfd);
        if (rc)
            throw_errno("stop experiment", err);
    }
    int fd = open_map_checked(config_map_id, BPF_MAP_TYPE_ARRAY, sizeof(fl_experiment), "fl_config");
    fl_experiment e{};
    int rc = bpf_map_lookup_elem(fd, &slot, &e);
    if (rc == 0) {
        e.expires = 0;
        rc = bpf_map_update_elem(fd, &slot, &e, BPF_EXIST);
    }
    int err = errno;
    close(fd);
    if (rc)
        throw_errno("disable experiment", err);
}

} // namespace faultline::bpf
