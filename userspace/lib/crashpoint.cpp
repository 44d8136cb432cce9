// SPDX-License-Identifier: Apache-2.0
#include "faultline/crashpoint.hpp"

#ifdef FAULTLINE_CRASHPOINTS
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

namespace faultline {

void crashpoint(const char* name) {
    static const std::string spec = [] {
        const char* v = getenv("FAULTLINE_CRASHPOINT");
        return std::string(v ? v : "");
    }();
    static long passes = 0;
    if (spec.empty())
        return;
    size_t colon = spec.rfind(':');
    std::string want = spec.substr(0, colon);
    long n = colon == std::string::npos ? 1 : std::atol(spec.c_str() + colon + 1);
    if (want != name)
        return;
    if (++passes == n)
        raise(SIGKILL);
}

} // namespace faultline
#endif
