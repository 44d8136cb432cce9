// SPDX-License-Identifier: Apache-2.0
// The BPF layer: the only code that includes libbpf and the skeleton. Above
// it, programs and maps are typed and owned (RAII); no raw fds leak out.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "faultline/abi.h"

namespace faultline::bpf {

enum class Program {
    skb_egress,
    skb_ingress,
    connect4,
    connect6,
    tc_ingress,
    vm_enough,
    file_open,
    file_perm,
    fsync,
    fdatasync,
    failslab,
    fail_bio,
    last = fail_bio // keep last: Object::load walks every program
};

const char* program_name(Program p);

// An attachment; detached when destroyed (and by the kernel when the
// process dies: links are released with their last fd).
class Link {
  public:
    explicit Link(int fd) : fd_(fd) {}
    ~Link();
    Link(Link&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    Link& operator=(Link&&) = delete;
    Link(const Link&) = delete;

  private:
    int fd_;
};

// A program attached at a device's tc ingress hook (by Object::attach_tc):
// a tcx link on Linux 6.6+, released with the process like cgroup links;
// before that, a filter on the clsact qdisc, which outlives a killed
// process: its description (tc_intent) goes into the session record before
// it is attached, and the loader's sentinel removes it (remove_tc_filter).
// Detached when destroyed.
struct TcFilter {
    std::string dev;
    std::string netns;           // "" = faultline's own
    uint32_t handle = 0;         // 0: a tcx link, nothing to record
    uint32_t priority = 0;       // 0: not known yet (an intent): found by prog_id
    bool created_clsact = false; // faultline added the clsact qdisc: remove it too
    uint32_t prog_id = 0;        // the filter's program: tells this session's filter from others'
};

class TcAttachment {
  public:
    TcAttachment(TcFilter f, int link_fd) : filter_(std::move(f)), link_(link_fd) {}
    ~TcAttachment();
    TcAttachment(TcAttachment&&) noexcept;
    TcAttachment& operator=(TcAttachment&&) = delete;
    TcAttachment(const TcAttachment&) = delete;
    const TcFilter& filter() const { return filter_; }
    bool is_link() const { return link_ >= 0; }

  private:
    TcFilter filter_;
    int link_; // tcx link fd, or -1 for a clsact filter
};

// Removes a clsact filter faultline added (and the qdisc if it added that and
// no other filter is left on it); nothing if it is already gone.
void remove_tc_filter(const TcFilter& f);

// Does a device frame packets with an Ethernet header, as the tc program
// expects (Ethernet devices, veth, loopback; not tun or WireGuard)? Throws
// Error(usage) if there is no such device in netns.
bool has_ethernet_framing(const std::string& dev, const std::string& netns);

// Can this kernel run and attach the tc ingress program? Tried for real on
// lo of a throwaway network namespace. Empty if yes, else the reason.
std::string tc_ingress_problem();

struct TestRun {
    uint32_t retval = 0;
    uint32_t duration_ns = 0;    // average per repetition, as the kernel reports it
    uint64_t tstamp = 0;         // __sk_buff.tstamp after the run
    std::vector<uint8_t> packet; // the packet after the run (tc may rewrite it)
};

struct MapIds {
    uint32_t config = 0;
    uint32_t counters = 0;
    uint32_t stopped = 0;
};

// One loaded instance of the faultline programs and their maps.
class Object {
  public:
    // Opens the embedded object and loads the listed programs (only those:
    // a program the kernel rejects never blocks the others). Throws Error
    // with the kernel's reason; the verifier log goes to the verbose log.
    static std::unique_ptr<Object> load(const std::set<Program>& programs);
    ~Object();
    Object(const Object&) = delete;
    Object& operator=(const Object&) = delete;

    Link attach_cgroup(Program p, const std::string& cgroup_path);
    // What attach_tc(dev, netns) will add if the kernel has no tcx: to be
    // recorded before it is (handle, program id, whether the clsact qdisc
    // is faultline's; the priority is known only after).
    TcFilter tc_intent(const std::string& dev, const std::string& netns);
    // Program::tc_ingress on a device of a network namespace ("" = ours):
    // tcx where the kernel has it (filter().handle 0), else clsact (created
    // if missing, as the intent says).
    TcAttachment attach_tc(const TcFilter& intent);
    // A tracing program (fmod_ret): attached to its kernel function for
    // every task; the programs pick their tasks by cgroup.
    static bool is_trace(Program p);
    Link attach_trace(Program p);
    // How long a dns error-answer rewrite waits for its answer.
    void set_answer_wait(uint64_t ns);

    // e.expires is in jiffies: use deadline_jiffies().
    void set_experiment(uint32_t slot, const fl_experiment& e);
    fl_experiment experiment(uint32_t slot) const;
    // The experiments of one target cgroup at one hook (v.n == 0 removes
    // the entry). Write the experiments first: v.flags is derived from
    // them. Throws Error if the index has no room (thousands of targets).
    void set_index(uint64_t cgroup_id, uint32_t hook, const fl_index_val& v);
    void delete_index(uint64_t cgroup_id, uint32_t hook);
    // A path= filter of a disk experiment (fl_paths): added before the
    // experiment goes live; gone with the object.
    void add_path(const fl_path_key& k);
    fl_counters counters(uint32_t slot) const; // summed over CPUs
    // A device (network namespace inode, ifindex) whose root qdisc is an fq
    // that holds this object's delays (fl_held); delays leaving by any other
    // device count as not held.
    void add_held_device(uint32_t netns, uint32_t ifindex);
    // The last device a delay of the slot was not held on ({0, 0}: none).
    fl_dev_key not_held_at(uint32_t slot) const;
    // Has `faultline stop` stopped the slot (fl_stopped)?
    bool stopped(uint32_t slot) const;
    void set_levels(uint32_t mask);

    // The jiffies value the programs' deadline check must reach so that an
    // experiment stops at the caller's CLOCK_MONOTONIC time `monotonic_ns` (in
    // any time namespace: only its difference to now is used): never
    // earlier, at most two ticks (+ a few us) later: one run of fl_clock.
    uint64_t deadline_jiffies(uint64_t monotonic_ns);
    uint64_t tick_ns(); // TICK_NSEC, i.e. 10^9 / CONFIG_HZ

    MapIds map_ids() const;
    int prog_fd(Program p) const;
    // A map of this object by its name in the BPF source (tests), -1 if none.
    int map_fd(const char* name) const;

    // BPF_PROG_TEST_RUN on a packet (starting with an Ethernet header, as
    // the kernel expects). The skb is owned by a socket in the caller's
    // cgroup, so cgroup matching sees the calling thread's cgroup.
    TestRun test_run(Program p, const std::vector<uint8_t>& packet, uint32_t repeat = 1, uint64_t tstamp_in = 0) const;

  private:
    Object() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Access to another process's instance through the map ids it published
// (faultline status / stop). Throw Error if the map is gone.
fl_counters read_counters(uint32_t counters_map_id, uint32_t slot);
// Stops an experiment for good: its fl_stopped flag (which the loader never
// writes; 0 = an older record without it), then its deadline.
void disable_experiment(uint32_t config_map_id, uint32_t stopped_map_id, uint32_t slot);

// Libbpf's own messages (verifier logs ...) go to stderr only when verbose.
void set_verbose(bool on);

} // namespace faultline::bpf
