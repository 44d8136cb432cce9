// SPDX-License-Identifier: Apache-2.0
// What faultline does outside BPF, written down before it is done: one
// record per session (its experiments, the qdiscs and tc filters it put on
// devices) and one per cgroup it creates, under /run/faultline, so that
// `status` and `stop` work from any shell and whatever a dead loader left
// is removed by its sentinel (sentinel.hpp), or by `faultline gc`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "faultline/cgroup.hpp"

namespace faultline {

struct ExperimentRecord {
    std::string id;   // SESSION.N
    std::string spec; // as written
    uint32_t slot = 0;
};

// A clsact filter a session added for dns error answers (kernels before
// 6.6, no tcx), in its netns.
struct TcFilterRecord {
    std::string dev;
    uint32_t handle = 0;
    uint32_t priority = 0; // 0: recorded before it was attached (found by prog_id)
    bool created_clsact = false;
    uint32_t prog_id = 0;
};

struct SessionRecord {
    std::string id; // 8 hex digits; the file is ID.json
    pid_t pid = 0;
    uint64_t pid_start = 0; // /proc/PID/stat starttime, guards against pid reuse
    std::string cgroup;
    uint64_t cgroup_id = 0;
    uint32_t config_map_id = 0;
    uint32_t counters_map_id = 0;
    uint32_t stopped_map_id = 0; // fl_stopped: written by `faultline stop` only
    int64_t started_unix = 0;
    int64_t ends_unix = 0; // 0: until stopped
    std::vector<ExperimentRecord> experiments;
    // Devices whose root fq this session uses (listed before it is added):
    // the last live session listing a device removes faultline's fq there.
    std::vector<std::string> fq_devices;
    std::string netns;                      // ... in this network namespace ("" = faultline's)
    uint64_t netns_ino = 0;                 // ... whose inode was this
    std::string created_cgroup;             // a cgroup this process makes (listed before mkdir) ...
    uint64_t created_cgroup_ino = 0;        // ... and its inode once made (0: not yet)
    std::vector<TcFilterRecord> tc_filters; // clsact filters this session added (netns as above)

    bool is_session() const { return !experiments.empty(); }
};

// /run/faultline: created 0700 if missing; refused (Error) if it is not a
// directory owned by root and closed to others, or is a symlink.
std::string state_dir();
// A record's file text, and back. parse_record throws std::exception (a
// JSON error, a missing or mistyped field, a value no record can hold).
SessionRecord parse_record(std::string_view text);
std::string record_text(const SessionRecord& r);
void write_record(const SessionRecord& r);
void remove_record(const std::string& id);
// Every valid record. A file that is not one (a symlink, not a regular
// file, not root's, open to others, over 64 KiB, a name that is not
// ID.json, unparsable) is skipped and named in *rejected when given.
std::vector<SessionRecord> list_records(std::vector<std::string>* rejected = nullptr);
// The record of session ID, read by its name, without a directory scan:
// readdir() may miss an entry while others are renamed over (POSIX leaves
// it unspecified; one VM run on 6.1 had `stop ID` miss a live session while
// other sessions were starting). Empty when there is none.
std::optional<SessionRecord> find_record(const std::string& id);
// Is the record's process alive (same pid and start time, not a zombie)?
bool record_alive(const SessionRecord& r);
bool process_alive(pid_t pid, uint64_t start_time);
uint64_t process_start_time(pid_t pid);

// Serializes reapers and the fq decisions of sessions (flock on the
// /run/faultline directory itself, no lock file) while it lives.
class StateLock {
  public:
    StateLock();
    ~StateLock();
    StateLock(const StateLock&) = delete;
    StateLock& operator=(const StateLock&) = delete;

  private:
    int fd_ = -1;
};

// Removes what one dead record's process left: faultline's fq on its
// devices (unless a live session still lists the device), its clsact
// filters, its cgroup (only a faultline-KIND-PID directory of the v2
// hierarchy with the recorded inode), and the record. The caller holds a
// StateLock. Returns what it removed, one line per item.
std::vector<std::string> reap_record(const SessionRecord& r);

// Reaps every record whose process is dead (under a StateLock), and the
// temporary files of dead writers. Returns one line per item removed.
std::vector<std::string> reap_stale_sessions();

// Is `dev` in network namespace `netns_ino` listed by a live session other
// than `except_id`? The caller holds a StateLock.
bool fq_in_use_by_others(const std::string& dev, uint64_t netns_ino, const std::string& except_id);

std::string new_session_id();

// A cgroup made by faultline (exec, run, demo, probe), recorded before it
// is made and removed with everything in it when this object is destroyed,
// or by the sentinel when the process dies. The name must be
// faultline-KIND-PID (KIND: exec, run, demo, probe; PID: this process).
class OwnedCgroup {
  public:
    OwnedCgroup(const std::string& parent, const std::string& kind);
    ~OwnedCgroup();
    OwnedCgroup(const OwnedCgroup&) = delete;
    OwnedCgroup& operator=(const OwnedCgroup&) = delete;

    const CgroupRef& ref() const { return cg_->ref(); }
    const std::string& path() const { return cg_->path(); }

  private:
    SessionRecord rec_;
    std::optional<ScratchCgroup> cg_;
};

} // namespace faultline
