// SPDX-License-Identifier: Apache-2.0
// Experiment files (parse_experiment): YAML of any shape, size or encoding
// is read into an experiment or refused with Error(usage), one line and a
// hint; never a yaml-cpp exception, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "faultline/experiment.hpp"
#include "faultline/spec.hpp"
#include "fuzz_common.hpp"

using namespace faultline;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        Experiment x = parse_experiment(text, "fuzz.yaml");
        fuzz::check(!x.steps.empty(), "an experiment without a step was accepted");
        fuzz::check(!x.title.empty(), "an experiment without a title was accepted");
        fuzz::check(x.cgroup.empty() != x.exec.empty(), "not exactly one target was accepted");
        fuzz::check(x.planned_duration() <= max_duration, "steps over 168h were accepted");
        for (const auto& s : x.steps) {
            fuzz::check(s.duration.count() > 0, "a step without a duration was accepted");
            fuzz::check(s.faults.size() + (s.ramp ? 1 : 0) <= FL_MAX_PER_TARGET, "a step with too many faults");
        }
    } catch (const Error& e) {
        fuzz::check_refusal(e, ErrorKind::usage);
    }
    return 0;
}
