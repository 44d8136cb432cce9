// SPDX-License-Identifier: Apache-2.0
// One steady-state check: a command or an HTTP GET on loopback, bounded by
// a timeout.
#pragma once

#include <string>
#include <vector>

#include "faultline/runas.hpp"
#include "faultline/spec.hpp"

namespace faultline {

struct CheckResult {
    bool ok = false;
    double latency_ms = 0;
    std::string detail; // "exit 0", "HTTP 200", "timed out after 500ms" ...
};

// argv[0] is looked up in PATH; stdout/stderr go to /dev/null; the command
// runs in its own process group, which is killed on timeout.
CheckResult check_command(const std::vector<std::string>& argv, Nanos timeout, const RunAs& as);
// http://HOST[:PORT]/PATH with HOST 127.x.x.x, localhost or [::1]; healthy
// on a 2xx or 3xx status line.
CheckResult check_http(const std::string& url, Nanos timeout);

} // namespace faultline
