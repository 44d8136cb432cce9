// SPDX-License-Identifier: Apache-2.0
// `faultline report` on any text: a journal a run can leave (killed,
// truncated, edited) is summarized, anything else is refused with
// Error(usage), one line and a hint. A summary has a verdict and an SVG.
#include <cstddef>
#include <cstdint>
#include <string>

#include "faultline/journal_report.hpp"
#include "fuzz_common.hpp"

using namespace faultline;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        JournalReport r = report_journal_text(text, "fuzz.jsonl");
        fuzz::check(r.verdict == "held" || r.verdict == "rejected" || r.verdict == "inconclusive",
                    "a verdict that is none of the three: " + r.verdict);
        fuzz::check(!r.text.empty(), "a summary without text");
        fuzz::check(r.svg.rfind("<svg", 0) == 0 && r.svg.find("</svg>") != std::string::npos, "a plot that is not SVG");
    } catch (const Error& e) {
        fuzz::check_refusal(e, ErrorKind::usage);
    }
    return 0;
}
