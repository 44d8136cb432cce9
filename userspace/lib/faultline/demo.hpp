// SPDX-License-Identifier: Apache-2.0
// `faultline demo`: the main job on a built-in default experiment.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace faultline {

struct DemoOptions {
    uint32_t requests = 5000; // UDP request/response pairs per phase
    uint32_t timeout_ms = 50; // a request unanswered for this long is lost
    bool json = false;
};

// Builds a private network namespace and a target cgroup, runs a real UDP
// echo client (in the target) against a real server (outside it) through
// three phases -- baseline, net.delay=10ms@1%, net.drop@1% -- and prints the
// client's measurements next to faultline's counters. Returns an exit code.
int run_demo(const DemoOptions& o);

} // namespace faultline
