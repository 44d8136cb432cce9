// SPDX-License-Identifier: Apache-2.0
// Kernel feature probing: every answer comes from loading and attaching the
// real programs (libbpf's helper probes give false positives on 6.18).
#pragma once

#include <string>
#include <vector>

#include "faultline/error.hpp"
#include "faultline/spec.hpp"

namespace faultline {

struct FaultSupport {
    std::string fault; // "net.drop"
    bool available = false;
    std::string mechanism;  // what faultline uses on this kernel
    std::string min_kernel; // upstream version that introduced it
    std::string reason;     // why not, when unavailable
    bool forbidden = false; // refused with EPERM (lockdown, an LSM, a sandbox, the kernel's build)
};

struct ProbeReport {
    std::string kernel; // uname -r
    std::vector<FaultSupport> faults;
};

// Every fault: probes each mechanism once per process and caches.
const ProbeReport& probe_kernel();

// One fault, probing only what it needs (cached likewise): a command that
// injects net.drop never attaches a tc program to find out about DNS error
// answers (each first attach and last detach of a kind of program patches
// kernel text: static keys, trampolines). Throws for an unknown fault name.
const FaultSupport& probe_fault(const std::string& fault);

// Throws Error(unsupported) naming what was tried and why it failed: a
// fault by name, or a row of the probe that is not a fault of its own.
void require_support(const std::string& row);
// That refusal, for a row the probe (or a fake one) said no to.
Error unsupported_error(const std::string& row, const FaultSupport& f, const std::string& kernel);

// The probe's row for the disk faults' op=fsync, which needs more of the
// kernel than their other operations.
inline const std::string disk_fsync_row = "disk.*,op=fsync";

} // namespace faultline
