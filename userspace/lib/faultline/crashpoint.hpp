// SPDX-License-Identifier: Apache-2.0
// Named crash points for the kill-at-every-step tests: with
// FAULTLINE_CRASHPOINT=NAME:N in the environment, the N-th pass through
// crashpoint("NAME") kills the process with SIGKILL, exactly as an operator's
// `kill -9` or the OOM killer would at that moment.
//
// Named fail points for the self-fault tests, where a seccomp filter cannot
// single out one call: with FAULTLINE_FAILPOINT=NAME=ERRNO, failpoint("NAME")
// returns ERRNO (a number) and the call site fails as if the kernel had
// returned it; otherwise 0.
//
// Both are compiled in only when the build says -DFAULTLINE_CRASHPOINTS=ON
// (the test builds); elsewhere the calls are empty and the environment is
// never read.
#pragma once

namespace faultline {

#ifdef FAULTLINE_CRASHPOINTS
void crashpoint(const char* name);
int failpoint(const char* name);
#else
inline void crashpoint(const char*) {}
inline int failpoint(const char*) {
    return 0;
}
#endif

} // namespace faultline
