// SPDX-License-Identifier: Apache-2.0
// The capabilities faultline needs, checked with capget(2) before anything
// is attached: a loader without one of them is refused naming every
// capability it lacks, instead of failing halfway through with EPERM from
// whichever system call came first. Root has them all; so does a service
// given them (systemd's AmbientCapabilities=).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace faultline {

struct Capability {
    int number;       // CAP_* (linux/capability.h)
    const char* name; // "CAP_NET_ADMIN"
    const char* why;  // what faultline does with it
};

// What attaching faults (inject, exec, run, demo) needs: loading and
// attaching BPF programs to cgroups, TC and kernel functions, qdiscs,
// cgroups, network namespaces and the memlock limit of older kernels.
// The probe (`faultline probe`, and every fault before it attaches) needs
// the same: it loads programs in a scratch network namespace.
std::span<const Capability> attach_capabilities();

// What reading or removing sessions (status, stop, gc) needs.
std::span<const Capability> admin_capabilities();

// What starting commands as another user (not root, not faultline's own
// uid) needs besides: switching to the user and stopping its processes.
std::span<const Capability> run_as_capabilities();

// Of `needed`, those whose bit is not set in `effective` (a capget mask).
std::vector<Capability> missing_capabilities(uint64_t effective, std::span<const Capability> needed);

// This thread's effective capability mask (capget). Throws Error(system).
uint64_t effective_capabilities();

// Throws Error(permission) naming every capability of `needed` this
// process lacks (and why faultline needs it), with a hint.
void require_capabilities(std::span<const Capability> needed);

} // namespace faultline
