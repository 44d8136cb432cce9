// SPDX-License-Identifier: Apache-2.0
// What the integration suites share: where the binaries under test are, and
// the probe-based gate that skips a test where this kernel cannot do a fault.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

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

// "at MS RESULT" lines of fl_traffic udp-connect-every.
inline std::vector<std::pair<long, std::string>> attempts(const std::string& out) {
    std::vector<std::pair<long, std::string>> v;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream l(line);
        std::string at, res;
        long ms = 0;
        if (l >> at >> ms >> res && at == "at")
            v.emplace_back(ms, res);
    }
    return v;
}

} // namespace faultline::test
