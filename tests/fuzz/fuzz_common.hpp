// SPDX-License-Identifier: Apache-2.0
// What every fuzz target asserts of a refusal: it is faultline's Error of
// the kind the input deserves, with a one-line message a person can read
// (no NUL, no newline, under 1000 bytes) and a hint. Anything else that
// escapes (std::out_of_range, a JSON or YAML exception) is a finding:
// libFuzzer reports the uncaught exception as a crash.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "faultline/error.hpp"

namespace fuzz {

// A finding: print why, then abort so libFuzzer saves the input.
[[noreturn]] inline void finding(const std::string& why) {
    fprintf(stderr, "FINDING: %s\n", why.c_str());
    abort();
}

inline void check(bool ok, const std::string& why) {
    if (!ok)
        finding(why);
}

inline void check_refusal(const faultline::Error& e, faultline::ErrorKind want) {
    const std::string what = e.what();
    check(e.kind() == want, "a refusal of the wrong kind: " + what);
    check(!what.empty() && what.size() < 1000, "a message empty or over 1000 bytes");
    check(what.find('\n') == std::string::npos && what.find('\0') == std::string::npos,
          "a message of more than one line: " + what);
    check(!e.hint().empty(), "a refusal without a hint: " + what);
    check(e.hint().find('\n') == std::string::npos, "a hint of more than one line: " + e.hint());
}

} // namespace fuzz
