// SPDX-License-Identifier: Apache-2.0
// The probe-based gate of the suites that need a kernel mechanism: skip
// where this kernel cannot do a fault, fail where its row of the VM matrix
// (tools/vmtest/kernels.conf) promises it.
#pragma once

#include <cstdlib>
#include <gtest/gtest.h>
#include <string>

#include "faultline/probe.hpp"

namespace faultline::test {

// What faultline's own probe (real load + attach) says of a fault here:
// only that fault's mechanisms are tried.
inline const FaultSupport& support(const std::string& fault) {
    return probe_fault(fault);
}

// Does this kernel's row of the VM matrix (tools/vmtest/kernels.conf)
// promise the fault? FL_LACKS lists what the row says the kernel lacks
// ('+'-joined, '-' for nothing, '*' for everything); unset (the host, whatever its kernel):
// nothing is promised.
inline bool promised(const std::string& fault) {
    const char* lacks = getenv("FL_LACKS");
    if (!lacks || std::string(lacks) == "*") // '*': the row promises nothing
        return false;
    std::string l = std::string("+") + lacks + "+";
    return l.find("+" + fault + "+") == std::string::npos;
}

} // namespace faultline::test

// Each test names the fault it needs: where the probe says this kernel
// cannot do it, the test is skipped with the probe's reason, unless the
// kernel's row in the VM matrix promises the fault: then it fails (a probe
// regression must not turn tests into skips). Where the probe says it can,
// the test runs and must pass.
#define REQUIRE_FAULT(f)                                                                                               \
    if (!faultline::test::support(f).available) {                                                                      \
        if (faultline::test::promised(f))                                                                              \
            GTEST_FAIL() << f << " is promised on this kernel (tools/vmtest/kernels.conf) but unavailable: "           \
                         << faultline::test::support(f).reason;                                                        \
        GTEST_SKIP() << f << " unavailable on this kernel: " << faultline::test::support(f).reason;                    \
    }
