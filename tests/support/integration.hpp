// SPDX-License-Identifier: Apache-2.0
// What the integration suites share: where the binaries under test are, and
// the probe-based gate that skips a test where this kernel cannot do a fault.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "faultline/probe.hpp"
#include "require.hpp"

namespace faultline::test {

// Built paths, overridable for runs elsewhere (the VM kernel matrix).
// A number from the environment (test sizes: FL_STOPS, FL_SOAK_SECONDS ...).
inline long env_long(const char* name, long fallback) {
    const char* v = getenv(name);
    return v && *v ? std::atol(v) : fallback;
}

inline std::string env_or(const char* name, const char* fallback) {
    const char* v = getenv(name);
    return v && *v ? v : fallback;
}
inline const std::string fl = env_or("FAULTLINE_BIN", FL_BIN);
inline const std::string traffic = env_or("FL_TRAFFIC_BIN", FL_TRAFFIC_BIN);
inline const std::string fileio = env_or("FL_FILEIO_BIN", FL_FILEIO_BIN);
inline const std::string fileio_static = env_or("FL_FILEIO_STATIC_BIN", FL_FILEIO_STATIC_BIN);

inline nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}

} // namespace faultline::test
