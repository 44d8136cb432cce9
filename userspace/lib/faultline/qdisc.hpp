// SPDX-License-Identifier: Apache-2.0
// sch_fq management for earliest-departure-time delays, over rtnetlink.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace faultline {

// Runs attempt() in a forked child in a fresh network namespace (so nothing
// it creates can outlive it or touch the machine's): empty if it returned
// empty, else its message (or the Error it threw). An Error of kind system
// (the machine's state at the moment, not the kernel's answer about a
// feature) is thrown again here, with its message and hint.
std::string in_scratch_netns(const std::function<std::string()>& attempt);

// Can this kernel create an fq qdisc? Tried for real on loopback in a
// throwaway network namespace. On failure, *why says what the kernel said.
bool fq_available(std::string* why);

// A network namespace to work in: empty = faultline's own; otherwise a path
// (/proc/PID/ns/net, /run/netns/NAME) or a name from `ip netns` (NAME).
// Throws Error(usage) if it does not exist.
std::string resolve_netns(const std::string& name_or_path);

// Index of a device in the calling thread's network namespace; throws
// Error(usage) naming it if there is none.
int ifindex_of(const std::string& ifname);

// The device the routing table sends packets to `addr` by (as `ip route get
// ADDR` says; lo for a local address), in netns_path ("" = ours); "" if
// there is no route. family: AF_INET (4 bytes) or AF_INET6 (16).
std::string route_device(int family, const void* addr, const std::string& netns_path = {});
// Inode of a network namespace (0 if it cannot be read); "" = our own.
uint64_t netns_ino(const std::string& netns_path);

// While alive, the calling thread works in that network namespace (sockets
// it opens stay there); the previous one is restored on destruction.
class NetnsScope {
  public:
    explicit NetnsScope(const std::string& netns_path); // "" = no switch
    ~NetnsScope();
    NetnsScope(const NetnsScope&) = delete;
    NetnsScope& operator=(const NetnsScope&) = delete;

  private:
    int saved_ = -1;
};

// A filter on a clsact qdisc: for BPF filters the name the kernel shows
// ("fl_tc_ingress:[ID]") and the program's id, else "" and 0.
struct ClsactFilter {
    std::string name;
    uint32_t handle = 0;
    uint32_t priority = 0;
    uint32_t prog_id = 0;
};

// The filters on a device's clsact qdisc, ingress and egress together, in
// the calling thread's network namespace (none if it has no clsact).
std::vector<ClsactFilter> clsact_filters(int ifindex);

// Has the device a clsact qdisc (calling thread's network namespace)?
bool has_clsact(int ifindex);

// Devices that are up (including lo), in netns_path ("" = our own).
std::vector<std::string> up_devices(const std::string& netns_path = {});

// The handle of the fq root qdisc faultline installs (f17e:): what tells
// its own fq from one an administrator installed, which it never removes.
constexpr uint32_t fl_fq_handle = 0xF17E0000;

enum class FqUse {
    installed,  // it was the kernel's default (handle 0, or noqueue): now faultline's fq
    faultlines, // faultline's fq already (another session's): shared
    admins,     // an fq somebody configured: used as is, never removed
};

// Makes sure the root qdisc of a device is fq (in netns_path; "" = ours),
// installing faultline's own (handle f17e:, raised limits) in place of the
// kernel's default. Refuses (Error) to replace a root qdisc somebody
// configured (non-zero handle), which it could not restore.
FqUse ensure_root_fq(const std::string& ifname, const std::string& netns_path = {});

// Is the root qdisc of the device an fq (anyone's)? false if it is gone.
bool root_is_fq(const std::string& ifname, const std::string& netns_path = {});

// Deletes the root qdisc of ifname if it is faultline's fq (handle f17e:),
// so the kernel's default comes back; first waits up to `drain` for the
// packets it still holds to leave (removing a qdisc drops its queue: the last
// `delay` worth of a delayed flow would be lost). The caller has decided,
// under a StateLock, that no live session uses it. true if it was deleted.
bool remove_root_fq(const std::string& ifname, const std::string& netns_path = {},
                    std::chrono::nanoseconds drain = std::chrono::nanoseconds{0});

} // namespace faultline
