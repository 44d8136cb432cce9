// SPDX-License-Identifier: Apache-2.0
// `faultline run`: an experiment file, step by step, with a steady-state
// probe that aborts it and a journal of everything that happened.
#pragma once

#include <string>

#include "faultline/experiment.hpp"

namespace faultline {

struct RunOptions {
    std::string journal;         // "" = next to the file: NAME-YYYYmmddTHHMMSSZ.jsonl
    bool quiet = false;          // no progress on stderr
    bool shadow = false;         // count-only: `injected` is what would have been
    std::string metrics;         // "" or [ADDR:]PORT: Prometheus endpoint
    bool metrics_public = false; // allow a non-loopback ADDR
    std::string user;            // --user: overrides the file's user:
};

struct RunResult {
    bool aborted = false;
    std::string reason; // why it was aborted
    std::string journal;
};

// What `--dry-run` prints: the plan, the kernel's verdict per fault, where
// things would be attached. Throws Error(unsupported) if a fault cannot run.
std::string plan_text(const Experiment& x);

// Runs it. The caller has blocked SIGINT/SIGTERM/SIGHUP/SIGCHLD (they end the
// run as an abort). Everything attached is removed before this returns or
// throws.
RunResult run_experiment(const Experiment& x, const RunOptions& opts);

// The journal path used when none is given.
std::string default_journal_path(const std::string& experiment_file);

} // namespace faultline
