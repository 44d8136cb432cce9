// SPDX-License-Identifier: Apache-2.0
// sch_fq management for earliest-departure-time delays, over rtnetlink.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace faultline {

// Runs attempt() in a forked child in a fresh network namespace (so nothing
// it creates can outlive it or touch the machine's): empty if it returned
// empty, else its message (or the Error it threw).
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

// The filters on a device's clsact qdisc, ingress and egress together, in
// the calling thread's network namespace (none if it has no clsact): for BPF
// filters the name the kernel shows ("fl_tc_ingress:[ID]"), else "".
std::vector<std::string> clsact_filters(int ifindex);

// Devices that are up (including lo), in netns_path ("" = our own).
std::vector<std::string> up_devices(const std::string& netns_path = {});

// Makes fq the root qdisc of a device for as long as it lives, then removes
// it so the kernel's default comes back. Refuses (Error) to replace a root
// qdisc somebody configured (non-zero handle), which it could not restore.
// A root that already is fq is left alone. On destruction (after the
// programs are detached, so nothing new is held) it waits up to `drain` for
// the packets fq still holds to leave — removing a qdisc drops its queue, so
// the last `delay` worth of a delayed flow would otherwise be lost.
class FqGuard {
  public:
    FqGuard(const std::string& ifname, const std::string& netns_path = {},
            std::chrono::nanoseconds drain = std::chrono::nanoseconds{0});
    ~FqGuard();
    FqGuard(const FqGuard&) = delete;
    FqGuard& operator=(const FqGuard&) = delete;

    const std::string& ifname() const { return ifname_; }
    bool installed() const { return installed_; }

  private:
    std::string ifname_;
    std::string netns_;
    std::chrono::nanoseconds drain_;
    bool installed_ = false;
};

// Deletes the root qdisc of ifname if it is fq (stale-session cleanup).
// With `drain`, first waits up to that long for its queue to empty.
void remove_root_fq(const std::string& ifname, const std::string& netns_path = {},
                    std::chrono::nanoseconds drain = std::chrono::nanoseconds{0});

} // namespace faultline
