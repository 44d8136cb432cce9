// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>

namespace faultline::test {

// Binomial 99.9% two-sided interval (z = 3.29, normal approximation) around
// n*p: a correct injector falls outside it about once in a thousand runs.
// Callers keep n*p >= ~50 so the approximation holds.
inline void expect_binomial(uint64_t hits, uint64_t n, double p) {
    double mean = static_cast<double>(n) * p;
    double sd = std::sqrt(static_cast<double>(n) * p * (1 - p));
    EXPECT_GE(static_cast<double>(hits), mean - 3.29 * sd) << hits << "/" << n << " at p=" << p;
    EXPECT_LE(static_cast<double>(hits), mean + 3.29 * sd) << hits << "/" << n << " at p=" << p;
}

} // namespace faultline::test
