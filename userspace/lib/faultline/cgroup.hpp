// SPDX-License-Identifier: Apache-2.0
// cgroup v2: finding the hierarchy, naming targets, making scratch cgroups.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "faultline/runas.hpp"

namespace faultline {

// Mount point of the cgroup v2 hierarchy, read from mountinfo (it is
// /sys/fs/cgroup on most hosts, /sys/fs/cgroup/unified on hybrid ones).
// Throws Error(unsupported) if none is mounted.
std::string cgroup2_mount(const std::string& mountinfo = "/proc/self/mountinfo");

// A resolved target cgroup.
struct CgroupRef {
    std::string path;   // absolute path of the directory
    uint64_t id = 0;    // cgroup v2 id (= inode of the directory)
    unsigned level = 0; // depth below the hierarchy root (root = 0)
};

// Resolve a user-supplied path: an absolute directory inside the v2
// hierarchy, or a path relative to its root ("/system.slice/x.service").
// Throws Error(usage) with a hint when it is not a cgroup v2 directory.
CgroupRef resolve_cgroup(std::string_view user_path);

// Fields of /proc/PID/stat (nullopt when the process is gone).
struct ProcStat {
    std::string comm;
    char state = '?'; // R, S, D, Z (zombie), X ...
    pid_t ppid = 0;
    uint64_t starttime = 0; // clock ticks after boot: with the pid, names one process
};
std::optional<ProcStat> proc_stat(pid_t pid);

// The cgroup v2 the process pid is in ("/" = root), from /proc/PID/cgroup.
std::string cgroup_of(pid_t pid);

// Why a fault on `target` would reach beyond one service: it is the
// hierarchy's root (every task, kernel threads included), or it contains
// faultline's own process, one of the processes it was started from (the
// shell, sudo, tmux, sshd of the invoking session) or PID 1. Each reason
// names the process. Empty when none applies.
std::vector<std::string> host_wide_reasons(const CgroupRef& target);

// Throws Error(usage) with the reasons and a hint unless they are empty or
// the user said --allow-host-wide (allow).
void refuse_host_wide(const CgroupRef& target, bool allow);

// Moves pid into the cgroup (writes cgroup.procs).
void cgroup_move(const std::string& cgroup_path, pid_t pid);

// For a forked child: asks to be killed when `parent` (the loader that
// forked it) dies, moves itself into the cgroup (so that faults apply from
// exec on), enters the network namespace (a path; "" = stays), becomes
// `as` (runas.hpp) and execs argv. Never returns: exit 126 if it cannot get there or run argv[0], 127
// if argv[0] does not exist, each with a message on stderr.
[[noreturn]] void exec_in_cgroup(const std::string& cgroup_path, const std::string& netns_path, const RunAs& as,
                                 const std::vector<std::string>& argv, pid_t parent);

// Kills every process left in the cgroup (cgroup.kill where the kernel has
// it, else SIGKILL to each pid listed) and waits briefly for it to empty.
void cgroup_kill_all(const std::string& cgroup_path);

// A cgroup created by faultline and removed (with anything still in it) when
// this object is destroyed.
class ScratchCgroup {
  public:
    // Creates parent/name. Throws if it exists or cannot be made.
    ScratchCgroup(const std::string& parent, const std::string& name);
    ~ScratchCgroup();
    ScratchCgroup(const ScratchCgroup&) = delete;
    ScratchCgroup& operator=(const ScratchCgroup&) = delete;

    const CgroupRef& ref() const { return ref_; }
    const std::string& path() const { return ref_.path; }

  private:
    CgroupRef ref_;
};

// Removes a faultline-made cgroup: kills what is left in it, then rmdir.
// Returns false (and leaves it) if it cannot be removed.
bool remove_cgroup(const std::string& path);

} // namespace faultline
