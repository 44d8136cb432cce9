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

namespace {

// The other parsers of the grammar's values, on the same text: a refusal,
// or a value whose printed form reads back the same (what status, journals
// and reports print must parse as what was given).
void values(const std::string& text) {
    try {
        uint64_t seed = parse_seed(text);
        fuzz::check(parse_seed(std::to_string(seed)) == seed, "a seed does not read back");
    } catch (const Error& e) {
        fuzz::check_refusal(e, ErrorKind::usage);
    }
    try {
        double p = parse_percent(text);
        fuzz::check(p >= 0 && p <= 100, "a percentage outside 0..100");
        fuzz::check(percent_to_threshold(parse_percent(format_percent(p))) == percent_to_threshold(p),
                    "a percentage does not read back: " + format_percent(p));
    } catch (const Error& e) {
        fuzz::check_refusal(e, ErrorKind::usage);
    }
    try {
        Nanos d = parse_duration(text, "duration");
        fuzz::check(d.count() >= 0, "a negative duration");
        fuzz::check(parse_duration(format_duration(d), "duration") == d,
                    "a duration does not read back: " + format_duration(d));
    } catch (const Error& e) {
        fuzz::check_refusal(e, ErrorKind::usage);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    values(text);
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
    // (dns.* keep their rcode in err: not an errno)
    if (f.err && (text.rfind("net.connect", 0) == 0 || text.rfind("disk.", 0) == 0))
        fuzz::check(errno_name(f.err) != std::to_string(f.err), "an errno the grammar took has no name");
    const FaultSpec again = parse_fault(text);
    fuzz::check(again.threshold == f.threshold && again.def == f.def && again.ops == f.ops &&
                    again.domains == f.domains && again.paths == f.paths && again.err == f.err,
                "the same text parsed two ways");
    return 0;
}
