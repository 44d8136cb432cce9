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

int failpoint(const char* name) {
    static const std::string spec = [] {
        const char* v = getenv("FAULTLINE_FAILPOINT");
        return std::string(v ? v : "");
    }();
    size_t eq = spec.rfind('=');
    if (eq == std::string::npos || spec.compare(0, eq, name) != 0)
        return 0;
    return std::atoi(spec.c_str() + eq + 1);
}

} // namespace faultline
#endif
