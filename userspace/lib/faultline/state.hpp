// SPDX-License-Identifier: Apache-2.0
// Running sessions, published under /run/faultline so that `status` and
// `stop` work from any shell, and stale leftovers of a killed loader can be
// cleaned up by the next faultline command.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

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
    uint32_t priority = 0;
    bool created_clsact = false;
};

struct SessionRecord {
    std::string id;
    pid_t pid = 0;
    uint64_t pid_start = 0; // /proc/PID/stat starttime, guards against pid reuse
    std::string cgroup;
    uint64_t cgroup_id = 0;
    uint32_t config_map_id = 0;
    uint32_t counters_map_id = 0;
    int64_t started_unix = 0;
    int64_t ends_unix = 0; // 0: until stopped
    std::vector<ExperimentRecord> experiments;
    std::vector<std::string> fq_devices;    // fq qdiscs this session installed
    std::string netns;                      // ... in this network namespace ("" = faultline's)
    uint64_t netns_ino = 0;                 // ... whose inode was this
    std::string created_cgroup;             // cgroup made by `exec`, removed at the end
    std::vector<TcFilterRecord> tc_filters; // clsact filters this session added (netns as above)
};

std::string state_dir();
void write_record(const SessionRecord& r);
void remove_record(const std::string& id);
std::vector<SessionRecord> list_records();
bool record_alive(const SessionRecord& r);
uint64_t process_start_time(pid_t pid);

// Removes what dead sessions left behind (fq qdiscs, clsact filters, exec
// cgroups, records).
// Returns the ids cleaned.
std::vector<std::string> reap_stale_sessions();

std::string new_session_id();

} // namespace faultline
