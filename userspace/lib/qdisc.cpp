// SPDX-License-Identifier: Apache-2.0
#include "faultline/qdisc.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <functional>
#include <linux/gen_stats.h>
#include <linux/nsfs.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <memory>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "faultline/error.hpp"

namespace faultline {
namespace {

struct SockDel {
    void operator()(nl_sock* s) const { nl_socket_free(s); }
};
using Sock = std::unique_ptr<nl_sock, SockDel>;

Sock route_socket() {
    Sock s(nl_socket_alloc());
    if (!s)
        throw Error(ErrorKind::system, "cannot allocate a netlink socket");
    int err = nl_connect(s.get(), NETLINK_ROUTE);
    if (err < 0)
        throw Error(ErrorKind::system, fmt::format("cannot open rtnetlink: {}", nl_geterror(err)));
    return s;
}

// Packets a delayed flow queues is rate x delay: fq's default per-flow limit
// (100) dropped 2/3 of a 300-packet burst at 50 ms (research notes A).
constexpr uint32_t fq_flow_limit = 10000;
constexpr uint32_t fq_limit = 100000;

// RTM_NEWQDISC kind fq with raised limits. libnl has no fq module, so the
// options are put by hand.
int add_fq(nl_sock* sk, int ifindex, int flags, uint32_t parent = TC_H_ROOT, uint32_t handle = fl_fq_handle) {
    tcmsg t{};
    t.tcm_family = AF_UNSPEC;
    t.tcm_ifindex = ifindex;
    t.tcm_parent = parent;
    t.tcm_handle = handle; // says "faultline's" to whoever removes it
    nl_msg* msg = nlmsg_alloc_simple(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | flags);
    if (!msg)
        return -NLE_NOMEM;
    int err = nlmsg_append(msg, &t, sizeof t, NLMSG_ALIGNTO);
    if (err >= 0)
        err = nla_put_string(msg, TCA_KIND, "fq");
    nlattr* opts = err >= 0 ? nla_nest_start(msg, TCA_OPTIONS) : nullptr;
    if (opts) {
        nla_put_u32(msg, TCA_FQ_PLIMIT, fq_limit);
        nla_put_u32(msg, TCA_FQ_FLOW_PLIMIT, fq_flow_limit);
        nla_nest_end(msg, opts);
    } else if (err >= 0) {
        err = -NLE_NOMEM;
    }
    if (err >= 0)
        err = nl_send_sync(sk, msg); // frees msg
    else
        nlmsg_free(msg);
    return err;
}

// A qdisc of `kind` with the kernel's default options (no TCA_OPTIONS) under
// `parent`, with `handle` (0: the kernel numbers it).
int add_default(nl_sock* sk, int ifindex, uint32_t parent, const std::string& kind, uint32_t handle = 0) {
    tcmsg t{};
    t.tcm_family = AF_UNSPEC;
    t.tcm_ifindex = ifindex;
    t.tcm_parent = parent;
    t.tcm_handle = handle;
    nl_msg* msg = nlmsg_alloc_simple(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
    if (!msg)
        return -NLE_NOMEM;
    int err = nlmsg_append(msg, &t, sizeof t, NLMSG_ALIGNTO);
    if (err >= 0)
        err = nla_put_string(msg, TCA_KIND, kind.c_str());
    if (err >= 0)
        return nl_send_sync(sk, msg); // frees msg
    nlmsg_free(msg);
    return err;
}

// The per-queue qdiscs of a multiqueue root (mq) that faultline replaces
// with fq: kinds the kernel creates with default options, each a code in
// the handle faultline gives its fq (so that whoever removes the fq, the
// loader, its sentinel or gc, knows what to put back without any record):
// major 0xE000 | code << 8 | queue.
const char* const mq_child_kinds[] = {nullptr, "pfifo_fast", "fq_codel", "sfq",   "pfifo",
                                      "bfifo", "codel",      "pie",      "fq_pie"};
constexpr unsigned mq_child_kind_count = sizeof mq_child_kinds / sizeof mq_child_kinds[0];

uint32_t mq_fq_handle(unsigned code, unsigned queue) {
    return (0xE000u | code << 8 | queue) << 16;
}
bool is_mq_fq_handle(uint32_t handle) {
    uint32_t major = handle >> 16;
    return (major & 0xF000) == 0xE000 && ((major >> 8) & 0xF) > 0 && ((major >> 8) & 0xF) < mq_child_kind_count &&
           (major & 0xFF) > 0;
}

struct RootInfo {
    bool exists = false;
    std::string kind;
    uint32_t handle = 0;
    uint32_t qlen = 0; // packets queued
    uint32_t parent = 0;
};

// Sends a dump request (RTM_GETQDISC, RTM_GETTFILTER) and runs `on` for
// every message of the answer: libnl's error, or >= 0.
int dump(nl_sock* sk, int type, tcmsg t, nl_recvmsg_msg_cb_t on, void* arg) {
    int err = nl_send_simple(sk, type, NLM_F_DUMP, &t, sizeof t);
    if (err < 0)
        return err;
    nl_cb* cb = nl_cb_alloc(NL_CB_DEFAULT);
    if (!cb)
        return -NLE_NOMEM;
    nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on, arg);
    err = nl_recvmsgs(sk, cb);
    nl_cb_put(cb);
    return err;
}

// Root qdiscs are read and removed with plain rtnetlink messages: libnl's
// qdisc cache (rtnl_qdisc_alloc_cache) crashes in a static build (its tc
// module table is never set up there), and the static binary is the one that
// runs on initramfs-only kernels.
struct RootQuery {
    int ifindex;
    RootInfo found;
    std::vector<RootInfo>* all = nullptr; // every qdisc of the device, if set
};

int on_qdisc(nl_msg* msg, void* arg) {
    auto* q = static_cast<RootQuery*>(arg);
    nlmsghdr* h = nlmsg_hdr(msg);
    if (h->nlmsg_type != RTM_NEWQDISC || !nlmsg_valid_hdr(h, sizeof(tcmsg)))
        return NL_OK;
    const auto* t = static_cast<const tcmsg*>(nlmsg_data(h));
    if (t->tcm_ifindex != q->ifindex || (t->tcm_parent != TC_H_ROOT && !q->all))
        return NL_OK;
    nlattr* tb[TCA_MAX + 1] = {};
    if (nlmsg_parse(h, sizeof(tcmsg), tb, TCA_MAX, nullptr) < 0)
        return NL_OK;
    RootInfo r;
    r.exists = true;
    r.handle = t->tcm_handle;
    r.parent = t->tcm_parent;
    r.kind = tb[TCA_KIND] ? nla_get_string(tb[TCA_KIND]) : "";
    nlattr* st[TCA_STATS_MAX + 1] = {};
    if (tb[TCA_STATS2] && nla_parse_nested(st, TCA_STATS_MAX, tb[TCA_STATS2], nullptr) >= 0 && st[TCA_STATS_QUEUE] &&
        nla_len(st[TCA_STATS_QUEUE]) >= static_cast<int>(sizeof(gnet_stats_queue))) {
        gnet_stats_queue gq{};
        memcpy(&gq, nla_data(st[TCA_STATS_QUEUE]), sizeof gq);
        r.qlen = gq.qlen;
    }
    if (t->tcm_parent == TC_H_ROOT)
        q->found = r;
    if (q->all)
        q->all->push_back(r);
    return NL_OK;
}

RootInfo root_qdisc(nl_sock* sk, int ifindex) {
    tcmsg t{};
    t.tcm_family = AF_UNSPEC;
    RootQuery q{ifindex, {}};
    if (int err = dump(sk, RTM_GETQDISC, t, on_qdisc, &q); err < 0)
        throw Error(ErrorKind::system, fmt::format("cannot list qdiscs: {}", nl_geterror(err)));
    return q.found;
}

// The root qdisc of a device and, for an mq root, its per-queue children.
struct Tree {
    RootInfo root;
    std::vector<RootInfo> children; // of an mq root, by queue
};
Tree qdisc_tree(nl_sock* sk, int ifindex) {
    tcmsg t{};
    t.tcm_family = AF_UNSPEC;
    std::vector<RootInfo> all;
    RootQuery q{ifindex, {}, &all};
    if (int err = dump(sk, RTM_GETQDISC, t, on_qdisc, &q); err < 0)
        throw Error(ErrorKind::system, fmt::format("cannot list qdiscs: {}", nl_geterror(err)));
    Tree tr{q.found, {}};
    if (tr.root.exists && tr.root.kind == "mq")
        for (const auto& r : all)
            if (r.parent != TC_H_ROOT && TC_H_MAJ(r.parent) == TC_H_MAJ(tr.root.handle) && TC_H_MIN(r.parent) > 0)
                tr.children.push_back(r);
    return tr;
}

// A multiqueue root whose every queue has an fq: delays are held.
bool all_fq(const Tree& t) {
    return !t.children.empty() &&
           std::all_of(t.children.begin(), t.children.end(), [](const RootInfo& c) { return c.kind == "fq"; });
}

int delete_root(nl_sock* sk, int ifindex) {
    tcmsg t{};
    t.tcm_family = AF_UNSPEC;
    t.tcm_ifindex = ifindex;
    t.tcm_parent = TC_H_ROOT;
    nl_msg* msg = nlmsg_alloc_simple(RTM_DELQDISC, NLM_F_REQUEST | NLM_F_ACK);
    if (!msg)
        return -NLE_NOMEM;
    int err = nlmsg_append(msg, &t, sizeof t, NLMSG_ALIGNTO);
    if (err < 0) {
        nlmsg_free(msg);
        return err;
    }
    return nl_send_sync(sk, msg); // frees msg
}

} // namespace

int ifindex_of(const std::string& ifname) {
    unsigned idx = if_nametoindex(ifname.c_str());
    if (!idx)
        throw Error(ErrorKind::usage, fmt::format("network device '{}' does not exist", ifname),
                    "dev= names devices of the network namespace faultline works in (its own, or --netns)");
    return static_cast<int>(idx);
}

namespace {

int on_route(nl_msg* msg, void* arg) {
    nlmsghdr* h = nlmsg_hdr(msg);
    if (h->nlmsg_type != RTM_NEWROUTE || !nlmsg_valid_hdr(h, sizeof(rtmsg)))
        return NL_OK;
    nlattr* tb[RTA_MAX + 1] = {};
    if (nlmsg_parse(h, sizeof(rtmsg), tb, RTA_MAX, nullptr) >= 0 && tb[RTA_OIF])
        *static_cast<int*>(arg) = static_cast<int>(nla_get_u32(tb[RTA_OIF]));
    return NL_OK;
}

} // namespace

std::string route_device(int family, const void* addr, const std::string& netns_path) {
    NetnsScope in(netns_path);
    Sock s = route_socket();
    nl_msg* msg = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_REQUEST);
    if (!msg)
        throw Error(ErrorKind::system, "cannot allocate a netlink message");
    rtmsg r{};
    r.rtm_family = static_cast<unsigned char>(family);
    r.rtm_dst_len = family == AF_INET ? 32 : 128;
    int err = nlmsg_append(msg, &r, sizeof r, NLMSG_ALIGNTO);
    if (err >= 0)
        err = nla_put(msg, RTA_DST, family == AF_INET ? 4 : 16, addr);
    if (err >= 0)
        err = nl_send_auto(s.get(), msg);
    nlmsg_free(msg);
    if (err < 0)
        throw Error(ErrorKind::system, fmt::format("cannot ask the routing table: {}", nl_geterror(err)));
    int oif = 0;
    nl_cb* cb = nl_cb_alloc(NL_CB_DEFAULT);
    if (!cb)
        throw Error(ErrorKind::system, "cannot allocate a netlink callback");
    nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_route, &oif);
    err = nl_recvmsgs(s.get(), cb);
    nl_cb_put(cb);
    char name[IF_NAMESIZE] = {};
    if (err < 0 || oif <= 0 || !if_indextoname(static_cast<unsigned>(oif), name))
        return {}; // no route (ENETUNREACH ...)
    return name;
}

std::string resolve_netns(const std::string& name_or_path) {
    if (name_or_path.empty())
        return {};
    std::string p = name_or_path.find('/') == std::string::npos ? "/run/netns/" + name_or_path : name_or_path;
    const char* hint = "--netns takes a name from `ip netns list` or a path such as /proc/PID/ns/net";
    // O_NONBLOCK: a FIFO there must not hold faultline in open() (where
    // it also ignores Ctrl-C: the signals are kept for the session).
    int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        throw Error(ErrorKind::usage, fmt::format("network namespace '{}' does not exist", name_or_path), hint);
    // Only a network namespace: a mount namespace or a directory given by
    // mistake was taken, and the faults' devices looked up in the wrong place.
    int type = ioctl(fd, NS_GET_NSTYPE);
    close(fd);
    if (type != CLONE_NEWNET)
        throw Error(ErrorKind::usage, fmt::format("'{}' is not a network namespace", name_or_path), hint);
    return p;
}

uint64_t netns_ino(const std::string& netns_path) {
    struct stat st {};
    if (stat(netns_path.empty() ? "/proc/self/ns/net" : netns_path.c_str(), &st))
        return 0;
    return st.st_ino;
}

NetnsScope::NetnsScope(const std::string& netns_path) {
    if (netns_path.empty())
        return;
    saved_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (saved_ < 0)
        throw_errno("open own network namespace", errno);
    int fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET)) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        close(saved_);
        saved_ = -1;
        throw_errno("enter network namespace " + netns_path, err);
    }
    close(fd);
}

NetnsScope::~NetnsScope() {
    if (saved_ < 0)
        return;
    (void)setns(saved_, CLONE_NEWNET);
    close(saved_);
}

namespace {
// Leads what in_scratch_netns's child sends for an Error of kind system.
constexpr char system_mark = '\x01';
} // namespace

std::string in_scratch_netns(const std::function<std::string()>& attempt) {
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC))
        throw_errno("pipe", errno);
    pid_t pid = fork();
    if (pid < 0)
        throw_errno("fork", errno);
    if (pid == 0) {
        close(pfd[0]);
        std::string msg;
        if (unshare(CLONE_NEWNET) != 0) {
            msg = fmt::format("cannot create a network namespace to test in: {}", strerror(errno));
        } else {
            try {
                msg = attempt();
            } catch (const Error& e) {
                // A failure of the moment (no memory, a netlink overrun) is
                // not the kernel's answer about the feature: it crosses
                // the pipe marked, with its hint, and is thrown again.
                msg = e.kind() == ErrorKind::system ? system_mark + std::string(e.what()) + '\0' + e.hint() : e.what();
            } catch (const std::exception& e) {
                msg = e.what();
            }
        }
        (void)!write(pfd[1], msg.data(), msg.size());
        _exit(msg.empty() ? 0 : 1);
    }
    close(pfd[1]);
    char buf[512];
    std::string msg;
    ssize_t n;
    while ((n = read(pfd[0], buf, sizeof buf)) > 0)
        msg.append(buf, static_cast<size_t>(n));
    close(pfd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return {};
    if (!msg.empty() && msg[0] == system_mark) {
        size_t nul = msg.find('\0');
        throw Error(ErrorKind::system, msg.substr(1, nul - 1), nul == std::string::npos ? "" : msg.substr(nul + 1));
    }
    return msg.empty() ? "the attempt failed without a reason" : msg;
}

namespace {

// What a failed qdisc request says: the kernel's lack of sch_fq, a
// permission, or the machine's state at the moment (anything else).
ErrorKind fq_error_kind(int err) {
    if (err == -NLE_PERM)
        return ErrorKind::permission;
    if (err == -NLE_OBJ_NOTFOUND || err == -NLE_OPNOTSUPP)
        return ErrorKind::unsupported;
    return ErrorKind::system;
}

} // namespace

bool fq_available(std::string* why) {
    // The kernel's answer for a qdisc kind it does not have is ENOENT
    // (libnl: NLE_OBJ_NOTFOUND), or EOPNOTSUPP; any other failure (no
    // memory, a netlink buffer overrun, an interrupted call) is this
    // machine's state at the moment, not a missing feature: thrown (and
    // thrown again in this process by in_scratch_netns).
    std::string msg = in_scratch_netns([] {
        Sock s = route_socket();
        int err = add_fq(s.get(), 1 /* lo */, NLM_F_CREATE | NLM_F_EXCL);
        if (err >= 0)
            return std::string{};
        if (fq_error_kind(err) == ErrorKind::system)
            throw Error(ErrorKind::system, fmt::format("could not create a test fq qdisc now: {}", nl_geterror(err)),
                        "the kernel or this process is short of memory or netlink buffers (not of a feature): run "
                        "faultline again");
        return fmt::format("creating an fq qdisc failed: {} (kernel built without CONFIG_NET_SCH_FQ, or sch_fq "
                           "module missing)",
                           nl_geterror(err));
    });
    if (!msg.empty() && why)
        *why = msg;
    return msg.empty();
}

namespace {

int on_filter(nl_msg* msg, void* arg) {
    nlmsghdr* h = nlmsg_hdr(msg);
    if (h->nlmsg_type != RTM_NEWTFILTER || !nlmsg_valid_hdr(h, sizeof(tcmsg)))
        return NL_OK;
    const auto* t = static_cast<const tcmsg*>(nlmsg_data(h));
    if (t->tcm_handle == 0)
        return NL_OK; // the chain's head entry, not a filter
    auto* out = static_cast<std::vector<ClsactFilter>*>(arg);
    nlattr* tb[TCA_MAX + 1] = {};
    nlattr* opt[TCA_BPF_MAX + 1] = {};
    ClsactFilter f{.handle = t->tcm_handle, .priority = TC_H_MAJ(t->tcm_info) >> 16};
    if (nlmsg_parse(h, sizeof(tcmsg), tb, TCA_MAX, nullptr) >= 0 && tb[TCA_KIND] &&
        std::string(nla_get_string(tb[TCA_KIND])) == "bpf" && tb[TCA_OPTIONS] &&
        nla_parse_nested(opt, TCA_BPF_MAX, tb[TCA_OPTIONS], nullptr) >= 0) {
        if (opt[TCA_BPF_NAME])
            f.name = nla_get_string(opt[TCA_BPF_NAME]);
        if (opt[TCA_BPF_ID])
            f.prog_id = nla_get_u32(opt[TCA_BPF_ID]);
    }
    out->push_back(std::move(f));
    return NL_OK;
}

struct ClsactQuery {
    int ifindex;
    bool found = false;
};

int on_clsact(nl_msg* msg, void* arg) {
    auto* q = static_cast<ClsactQuery*>(arg);
    nlmsghdr* h = nlmsg_hdr(msg);
    if (h->nlmsg_type != RTM_NEWQDISC || !nlmsg_valid_hdr(h, sizeof(tcmsg)))
        return NL_OK;
    const auto* t = static_cast<const tcmsg*>(nlmsg_data(h));
    nlattr* tb[TCA_MAX + 1] = {};
    if (t->tcm_ifindex == q->ifindex && t->tcm_parent == TC_H_CLSACT &&
        nlmsg_parse(h, sizeof(tcmsg), tb, TCA_MAX, nullptr) >= 0 && tb[TCA_KIND] &&
        std::string(nla_get_string(tb[TCA_KIND])) == "clsact")
        q->found = true;
    return NL_OK;
}

} // namespace

bool has_clsact(int ifindex) {
    Sock s = route_socket();
    tcmsg t{};
    t.tcm_family = AF_UNSPEC;
    ClsactQuery q{ifindex};
    if (int err = dump(s.get(), RTM_GETQDISC, t, on_clsact, &q); err < 0)
        throw Error(ErrorKind::system, fmt::format("cannot list qdiscs: {}", nl_geterror(err)));
    return q.found;
}

std::vector<ClsactFilter> clsact_filters(int ifindex) {
    Sock s = route_socket();
    std::vector<ClsactFilter> n;
    for (uint32_t minor : {TC_H_MIN_INGRESS, TC_H_MIN_EGRESS}) {
        tcmsg t{};
        t.tcm_family = AF_UNSPEC;
        t.tcm_ifindex = ifindex;
        t.tcm_parent = TC_H_MAKE(TC_H_CLSACT, minor);
        int err = dump(s.get(), RTM_GETTFILTER, t, on_filter, &n);
        if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_INVAL)
            throw Error(ErrorKind::system, fmt::format("cannot list tc filters: {}", nl_geterror(err)));
    }
    return n;
}

std::vector<std::string> up_devices(const std::string& netns_path) {
    NetnsScope in(netns_path);
    Sock s = route_socket();
    nl_cache* cache = nullptr;
    int err = rtnl_link_alloc_cache(s.get(), AF_UNSPEC, &cache);
    if (err < 0)
        throw Error(ErrorKind::system, fmt::format("cannot list links: {}", nl_geterror(err)));
    std::vector<std::string> out;
    for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
        auto* l = reinterpret_cast<rtnl_link*>(o);
        if (rtnl_link_get_flags(l) & IFF_UP)
            out.emplace_back(rtnl_link_get_name(l));
    }
    nl_cache_free(cache);
    return out;
}

namespace {

FqUse ensure_mq_fq(nl_sock* sk, int idx, const std::string& ifname) {
    Tree t = qdisc_tree(sk, idx);
    if (t.children.empty())
        throw Error(ErrorKind::system, fmt::format("device {}: its mq root has no queues listed", ifname));
    if (all_fq(t))
        return std::all_of(t.children.begin(), t.children.end(),
                           [](const RootInfo& c) { return is_mq_fq_handle(c.handle); })
                   ? FqUse::faultlines
                   : FqUse::admins;
    std::vector<std::pair<const RootInfo*, unsigned>> todo; // child, kind code
    for (const auto& c : t.children) {
        if (c.kind == "fq")
            continue; // anyone's fq is used as is
        unsigned code = 0;
        for (unsigned k = 1; k < mq_child_kind_count; k++)
            if (c.kind == mq_child_kinds[k])
                code = k;
        // The kernel makes each queue's qdisc with handle 0: a numbered one
        // was configured (with options faultline could not restore).
        if (c.handle != 0 || code == 0 || TC_H_MIN(c.parent) > 0xFF)
            throw Error(ErrorKind::usage,
                        fmt::format("device {}: queue {} has a configured qdisc ({} {:x}:) that faultline will not "
                                    "replace",
                                    ifname, TC_H_MIN(c.parent), c.kind, c.handle >> 16),
                        "net.delay needs sch_fq under every queue of a multiqueue device; install it yourself (tc "
                        "qdisc replace dev " +
                            ifname + " parent :N fq flow_limit 10000) or choose other devices with dev=");
        todo.emplace_back(&c, code);
    }
    for (const auto& [c, code] : todo) {
        int err = add_fq(sk, idx, NLM_F_CREATE | NLM_F_REPLACE, c->parent, mq_fq_handle(code, TC_H_MIN(c->parent)));
        if (err < 0)
            throw Error(
                fq_error_kind(err),
                fmt::format("cannot install sch_fq on {} queue {}: {}", ifname, TC_H_MIN(c->parent), nl_geterror(err)),
                "net.delay needs sch_fq (CONFIG_NET_SCH_FQ); `faultline probe` tells whether this kernel has "
                "it");
    }
    return FqUse::installed;
}

// Puts back what faultline's per-queue fqs replaced, after their packets
// have left (up to `drain`). When every queue is faultline's, every queue's
// qdisc was one the kernel made (handle 0), and so is the tree the kernel
// makes for a new mq root: the root is deleted (an mq the kernel made comes
// back by itself) and, if somebody had configured it, made again with its
// handle: exactly the tree that was there. Otherwise (some queue has an fq
// of somebody else's) each of faultline's gets the kind its handle names,
// with default options, numbered by the kernel.
bool remove_mq_fq(nl_sock* sk, int idx, std::chrono::nanoseconds drain) {
    auto ours = [](const Tree& t) {
        std::vector<RootInfo> v;
        for (const auto& c : t.children)
            if (c.kind == "fq" && is_mq_fq_handle(c.handle))
                v.push_back(c);
        return v;
    };
    Tree t = qdisc_tree(sk, idx);
    auto until = std::chrono::steady_clock::now() + drain;
    auto queued = [&] {
        auto v = ours(t);
        return std::any_of(v.begin(), v.end(), [](const RootInfo& c) { return c.qlen > 0; });
    };
    while (queued() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        t = qdisc_tree(sk, idx);
    }
    auto mine = ours(t);
    if (mine.empty())
        return false;
    if (mine.size() == t.children.size()) {
        if (delete_root(sk, idx) < 0)
            return false;
        return t.root.handle == 0 || add_default(sk, idx, TC_H_ROOT, "mq", t.root.handle) >= 0;
    }
    bool ok = true;
    for (const auto& c : mine)
        ok = add_default(sk, idx, c.parent, mq_child_kinds[(c.handle >> 24) & 0xF]) >= 0 && ok;
    return ok;
}

} // namespace

FqUse ensure_root_fq(const std::string& ifname, const std::string& netns_path) {
    NetnsScope in(netns_path);
    int idx = ifindex_of(ifname);
    Sock s = route_socket();
    RootInfo r = root_qdisc(s.get(), idx);
    if (r.exists && r.kind == "fq")
        return r.handle == fl_fq_handle ? FqUse::faultlines : FqUse::admins; // used as is
    // A multiqueue device's mq root is kept: fq goes under each TX queue in
    // place of the kernel-made qdisc there (one fq at the root would
    // serialize every queue). What was there is coded in each fq's handle,
    // so that it is put back whoever removes it.
    if (r.exists && r.kind == "mq")
        return ensure_mq_fq(s.get(), idx, ifname);
    if (r.exists && r.handle != 0 && r.kind != "noqueue")
        throw Error(ErrorKind::usage,
                    fmt::format("device {} has a configured root qdisc ({} {:x}:) that faultline will not replace",
                                ifname, r.kind, r.handle >> 16),
                    "net.delay needs sch_fq as the root qdisc; install it yourself "
                    "(tc qdisc replace dev " +
                        ifname + " root fq flow_limit 10000) or choose other devices with dev=");
    int err = add_fq(s.get(), idx, NLM_F_CREATE | NLM_F_REPLACE);
    if (err < 0)
        throw Error(fq_error_kind(err), fmt::format("cannot install sch_fq on {}: {}", ifname, nl_geterror(err)),
                    "net.delay needs sch_fq (CONFIG_NET_SCH_FQ); `faultline probe` tells whether this kernel has it");
    return FqUse::installed;
}

bool root_is_fq(const std::string& ifname, const std::string& netns_path) {
    NetnsScope in(netns_path);
    unsigned idx = if_nametoindex(ifname.c_str());
    if (!idx)
        return false;
    Sock s = route_socket();
    Tree t = qdisc_tree(s.get(), static_cast<int>(idx));
    return (t.root.exists && t.root.kind == "fq") || all_fq(t);
}

bool remove_root_fq(const std::string& ifname, const std::string& netns_path, std::chrono::nanoseconds drain) {
    NetnsScope in(netns_path);
    unsigned idx = if_nametoindex(ifname.c_str());
    if (!idx)
        return false;
    Sock s = route_socket();
    auto ours = [](const RootInfo& r) { return r.exists && r.kind == "fq" && r.handle == fl_fq_handle; };
    RootInfo r = root_qdisc(s.get(), static_cast<int>(idx));
    if (r.exists && r.kind == "mq")
        return remove_mq_fq(s.get(), static_cast<int>(idx), drain);
    auto until = std::chrono::steady_clock::now() + drain;
    while (ours(r) && r.qlen > 0 && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        r = root_qdisc(s.get(), static_cast<int>(idx));
    }
    return ours(r) && delete_root(s.get(), static_cast<int>(idx)) >= 0;
}

} // namespace faultline
