// SPDX-License-Identifier: Apache-2.0
// sch_fq management for earliest-departure-time delays, over rtnetlink.
#pragma once

#include <string>
#include <vector>

namespace faultline {

// Can this kernel create an fq qdisc? Tried for real on loopback in a
// throwaway network namespace. On failure, *why says what the kernel said.
bool fq_available(std::string* why);

// Devices of the current network namespace that are up (including lo).
std::vector<std::string> up_devices();

// Makes fq the root qdisc of a device for as long as it lives, then removes
// it so the kernel's default comes back. Refuses (Error) to replace a root
// qdisc somebody configured (non-zero handle), which it could not restore.
// A root that already is fq is left alone.
class FqGuard {
  public:
    explicit FqGuard(const std::string& ifname);
    ~FqGuard();
    FqGuard(const FqGuard&) = delete;
    FqGuard& operator=(const FqGuard&) = delete;

    const std::string& ifname() const { return ifname_; }
    bool installed() const { return installed_; }

  private:
    std::string ifname_;
    bool installed_ = false;
};

// Deletes the root qdisc of ifname if it is fq (stale-session cleanup).
void remove_root_fq(const std::string& ifname);

} // namespace faultline
