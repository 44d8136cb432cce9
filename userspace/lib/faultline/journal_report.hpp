// SPDX-License-Identifier: Apache-2.0
// `faultline report JOURNAL`: what a run's journal says, as text and as a
// plot (SVG) of configured percentage, injections/s and probe latency.
#pragma once

#include <string>

namespace faultline {

struct JournalReport {
    std::string text;
    std::string svg;
    std::string verdict; // "held", "rejected" or "inconclusive"
};

// Throws Error(usage) naming the line of a journal it cannot read.
JournalReport report_journal(const std::string& path);
// The same for a journal's text; `path` only names it in messages.
JournalReport report_journal_text(const std::string& text, const std::string& path);

} // namespace faultline
