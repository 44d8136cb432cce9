// SPDX-License-Identifier: Apache-2.0
// The session plan: what a session will load, attach and change outside BPF,
// decided before anything is touched. plan_session() is pure: every fact
// about the machine comes through an Environment, so each fault kind is
// unit-tested against fake kernels and networks without root; Session only
// carries a plan out, and `run --dry-run` prints it.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "faultline/abi.h"
#include "faultline/bpf.hpp"
#include "faultline/probe.hpp"
#include "faultline/session.hpp"

namespace faultline {

// The machine as a plan sees it. machine_environment() asks the kernel and
// the file system; tests give fake ones.
class Environment {
  public:
    virtual ~Environment() = default;
    virtual std::string kernel() const = 0; // uname -r, for refusals
    // The probe's verdict on a row (a fault's probe name, or disk_fsync_row).
    virtual FaultSupport support(const std::string& row) const = 0;
    // Is `netns` ("" = faultline's own) the host's network namespace?
    virtual bool host_netns(const std::string& netns) const = 0;
    virtual std::vector<std::string> up_devices(const std::string& netns) const = 0;
    // The device the routing table sends `to` by ("" when no route).
    virtual std::string route_device(const Cidr& to, const std::string& netns) const = 0;
    // Throws Error(usage) for a device `netns` does not have.
    virtual bool ethernet_framing(const std::string& dev, const std::string& netns) const = 0;
    // The controllers of a cgroup (its cgroup.controllers).
    virtual std::set<std::string> controllers(const std::string& cgroup_path) const = 0;
    // A path= filter's file as the kernel names it: (s_dev as MKDEV, i_ino),
    // or the errno of stat().
    struct FileId {
        uint32_t dev = 0;
        uint64_t ino = 0;
        int err = 0;
    };
    virtual FileId file_id(const std::string& path) const = 0;
    // The (major, minor) of a block device node; nullopt if it is none.
    virtual std::optional<std::pair<unsigned, unsigned>> block_device(const std::string& path) const = 0;
    // Where a file system on device MAJOR:MINOR is mounted ("" if nowhere).
    virtual std::string mounted_on(unsigned major, unsigned minor) const = 0;
    // A kmem cache by name: listed in /proc/slabinfo, only an alias of a
    // merged cache, or not there.
    enum class Cache { listed, merged, none };
    virtual Cache slab_cache(const std::string& name) const = 0;
};

const Environment& machine_environment();

struct SessionPlan {
    std::set<bpf::Program> programs;     // loaded; attached to the target's cgroup, or traced (every task)
    std::vector<std::string> fq_devices; // sch_fq made the root qdisc (net.delay), in the session's netns
    std::vector<std::string> tc_devices; // the tc ingress program that rewrites DNS answers
    Nanos hold{0};                       // the longest a packet can be held (an fq's drain time)
    std::vector<fl_path_key> paths;      // path= filters, resolved to inodes
    std::vector<uint64_t> caches;        // per slot: mem.slab's cache= hash (0: any)
    std::vector<uint32_t> bio_devices;   // per slot: disk.bio's device (the kernel's dev_t)
    // What the user should know before it starts (a device chosen by the
    // routing table, a device left alone): the caller prints them.
    std::vector<std::string> notes;
};

// Throws Error(usage) for options no session may have, Error(unsupported)
// for a fault this kernel cannot inject (that first, before the fault's
// devices and files are looked at), Error(usage) for filters that name
// nothing.
SessionPlan plan_session(const SessionOptions& opts, const Environment& env);

// The plan as `run --dry-run` prints it: indented lines, one per thing done.
std::string describe_plan(const SessionPlan& plan, const SessionOptions& opts);

} // namespace faultline
