// SPDX-License-Identifier: Apache-2.0
// Named crash points for the kill-at-every-step tests: with
// FAULTLINE_CRASHPOINT=NAME:N in the environment, the N-th pass through
// crashpoint("NAME") kills the process with SIGKILL, exactly as an operator's
// `kill -9` or the OOM killer would at that moment. Compiled in only when
// the build says -DFAULTLINE_CRASHPOINTS=ON (the test builds); elsewhere the
// calls are empty and the environment is never read.
#pragma once

namespace faultline {

#ifdef FAULTLINE_CRASHPOINTS
void crashpoint(const char* name);
#else
inline void crashpoint(const char*) {}
#endif

} // namespace faultline
