// SPDX-License-Identifier: Apache-2.0
// Experiments as files: what `faultline run FILE.yaml` reads. The file is
// validated as a whole before anything is attached; every error names the
// file, the line and the field.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "faultline/spec.hpp"

namespace faultline {

// A fault whose percentage rises from `from` to `to` in `steps` equal
// steps over `over`, by map updates only (nothing is re-attached).
struct Ramp {
    FaultSpec fault; // its percent is `from`
    double from = 0, to = 0;
    int steps = 2;
    Nanos over{0};
    // The percentage of sub-step k (0..steps-1).
    double percent_at(int k) const { return steps < 2 ? to : from + (to - from) * k / (steps - 1); }
};

struct Step {
    std::string name;              // "step 1" unless given
    std::vector<FaultSpec> faults; // constant for the whole step
    std::optional<Ramp> ramp;      // at most one ramped fault
    Nanos duration{0};             // = ramp->over when ramped
};

// The steady-state probe: a command (exit 0 = healthy) or an HTTP GET on a
// loopback URL (2xx/3xx = healthy), every `interval`, each given `timeout`.
// `max_failures` consecutive failures abort the experiment.
struct SteadyState {
    std::vector<std::string> command; // argv; a string in the file runs via /bin/sh -c
    std::string http;                 // http://127.0.0.1:PORT/PATH
    Nanos interval = std::chrono::seconds(1);
    Nanos timeout = std::chrono::milliseconds(500);
    int max_failures = 3;
};

struct Limits {
    uint64_t max_injections = 0; // over all faults and steps; 0 = none
    Nanos max_duration{0};       // 0 = the steps' sum
};

struct Experiment {
    std::string file; // as given
    std::string title;
    std::string hypothesis;
    std::string cgroup;            // target: an existing cgroup ...
    std::vector<std::string> exec; // ... or a command started in a fresh one
    std::string netns;             // where the target's packets leave (net.delay)
    std::optional<uint64_t> seed;
    std::string user;             // who exec: and the probe's command: run as ("": the sudo user, else root)
    bool allow_host_wide = false; // a target beyond one service (host_wide_reasons) is allowed
    bool force = false;           // disk.bio may name a device that backs a mounted file system
    std::vector<Step> steps;
    std::optional<SteadyState> steady_state;
    Limits limits;

    Nanos planned_duration() const;
    // The faults of every step, each once, by the name a user gives them
    // (disk.errno, dns.servfail: names that share a mechanism).
    std::vector<std::string> fault_names() const;
    // ... by the probe rows they need (a shadow delay: its drop's).
    std::vector<std::string> probe_names(bool shadow) const;
};

// Throws Error(usage): "FILE:LINE: FIELD: what is wrong" with a hint.
Experiment load_experiment(const std::string& path);
Experiment parse_experiment(const std::string& yaml_text, const std::string& name);

} // namespace faultline
