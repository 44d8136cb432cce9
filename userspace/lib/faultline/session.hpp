// SPDX-License-Identifier: Apache-2.0
// The engine: a set of experiments on one target cgroup, live in the kernel
// for as long as this object exists and never past their deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "faultline/abi.h"
#include "faultline/cgroup.hpp"
#include "faultline/spec.hpp"

namespace faultline {

struct SessionOptions {
    CgroupRef target;
    std::vector<FaultSpec> faults;
    std::optional<uint64_t> seed;
    std::optional<Nanos> duration; // none: until stopped
    // Deadline lease: the kernel deadline is at most this far ahead and is
    // renewed by renew(); a loader that stops renewing (SIGSTOP, hang)
    // loses its faults after one lease.
    Nanos lease = std::chrono::seconds(3);
    // Network namespace whose devices get sch_fq for net.delay ("" = ours):
    // where the target's packets leave.
    std::string netns;
    // Count-only: every experiment is evaluated and sampled as usual, and
    // `injected` counts what would have been injected, but nothing is
    // (no qdisc is installed either).
    bool shadow = false;
    // The target may be the hierarchy's root or contain faultline, its
    // invoking session or PID 1 (refused otherwise: host_wide_reasons()).
    bool allow_host_wide = false;
    // disk.bio may name a device that backs a mounted file system (--force).
    bool force = false;
    // Live from construction (true), or only once arm() is called: loaded,
    // attached and recorded, but no program acts on the target until then
    // (exec --after). The duration counts from arming.
    bool armed = true;
};

struct ExperimentStats {
    std::string id;
    std::string spec;
    double percent = 0;
    fl_counters counters{};
    // injected / matched: the rate the target actually saw.
    double achieved_percent() const {
        return counters.matched ? 100.0 * static_cast<double>(counters.injected) / static_cast<double>(counters.matched)
                                : 0.0;
    }
};

class Session {
  public:
    // Validates, probes the kernel, loads, writes the maps and attaches:
    // all of it or nothing (anything done is undone before the throw).
    explicit Session(SessionOptions opts);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    const std::string& id() const;
    const CgroupRef& target() const;
    // What its plan says the user should know (a device chosen by the
    // routing table, one left alone): for the caller to print.
    const std::vector<std::string>& notes() const;

    // Makes the experiments live (a session built with armed = false): the
    // index entries and the targeted depth, after the deadlines. Idempotent.
    void arm();
    // Pushes the kernel deadlines forward (never past the duration). Throws
    // Error(system) when the session cannot go on safely: its sentinel died,
    // or an fq its delays need was removed.
    void renew();
    // Changes experiment `slot`'s percentage in place: one map update,
    // nothing re-attached (ramps).
    void set_percent(size_t slot, double percent);
    // Disables every experiment in the kernel for good, as `faultline stop`
    // does: nothing is injected once it returns, so the counters read after
    // it are final (the destructor then detaches). Idempotent.
    void end();
    // Time left of the duration; nullopt when it runs until stopped.
    std::optional<Nanos> remaining() const;

    std::vector<ExperimentStats> stats() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

uint64_t monotonic_ns();

// The kernel-side form of a fault (deadline left 0: the caller sets it).
fl_experiment make_experiment(const FaultSpec& f, const CgroupRef& target, std::optional<uint64_t> seed, uint32_t slot);

} // namespace faultline
