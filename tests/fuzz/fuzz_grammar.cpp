// SPDX-License-Identifier: Apache-2.0
// The fault grammar (parse_fault): a refusal is Error(usage) with one line
// and a hint; what is accepted keeps the spec's invariants and parses the
// same way twice.
#include <cstddef>
#include <cstdint>
#include <string>

#include "faultline/spec.hpp"
#include "fuzz_common.hpp"

using namespace faultline;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    FaultSpec f;
    try {
        f = parse_fault(text);
    } catch (const Error& e) {
        fuzz::check_refusal(e, ErrorKind::usage);
        return 0;
    }
    fuzz::check(f.def != nullptr, "accepted without a registry row");
    fuzz::check(f.text == text, "the spec as written was not kept");
    fuzz::check(f.percent >= 0 && f.percent <= 100, "a percentage outside 0..100");
    fuzz::check(f.threshold == percent_to_threshold(f.percent), "threshold is not the percentage's");
    fuzz::check(f.rport.lo <= f.rport.hi && f.lport.lo <= f.lport.hi, "a port range upside down");
    fuzz::check(f.jitter <= f.delay, "jitter larger than the delay");
    fuzz::check(f.delay.count() >= 0 && f.delay <= max_duration, "a delay outside 0..max");
    fuzz::check(f.paths.size() <= disk_max_paths, "more path= filters than the BPF side holds");
    fuzz::check(text.find('\0') == std::string::npos, "a NUL was accepted");
    for (const auto& d : f.domains)
        fuzz::check(!d.empty() && d.back() != '.', "a domain kept empty or with its trailing dot");
    const FaultSpec again = parse_fault(text);
    fuzz::check(again.threshold == f.threshold && again.def == f.def && again.ops == f.ops &&
                    again.domains == f.domains && again.paths == f.paths && again.err == f.err,
                "the same text parsed two ways");
    return 0;
}
