// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>

namespace faultline::test {

// Exact binomial tails, summed in log space (n up to a few 10^6 is fine).
inline double binomial_cdf(uint64_t k, uint64_t n, double p) { // P(X <= k)
    double lp = std::log(p), lq = std::log1p(-p), sum = 0;
    for (uint64_t i = 0; i <= std::min(k, n); ++i) {
        double l = std::lgamma(double(n) + 1) - std::lgamma(double(i) + 1) - std::lgamma(double(n - i) + 1) +
                   double(i) * lp + double(n - i) * lq;
        sum += std::exp(l);
    }
    return std::min(sum, 1.0);
}

// Two-sided binomial test at alpha = 1e-6: a correct injector fails it about
// once in a million checks (the suite has fewer than ten, so a CI run flakes
// about once in 10^5 runs), while a wrong probability is still caught — e.g.
// 3000 trials at 10% accept 223..383, 10^5 at 1% accept 850..1158.
// (A 99.9% interval flaked in CI: 243/3000 at 10% is a 1-in-4000 draw.)
inline void expect_binomial(uint64_t hits, uint64_t n, double p) {
    constexpr double half_alpha = 0.5e-6;
    double lower = binomial_cdf(hits, n, p);                             // P(X <= hits)
    double upper = hits == 0 ? 1.0 : 1.0 - binomial_cdf(hits - 1, n, p); // P(X >= hits)
    EXPECT_GT(lower, half_alpha) << hits << "/" << n << " is too few for p=" << p;
    EXPECT_GT(upper, half_alpha) << hits << "/" << n << " is too many for p=" << p;
}

} // namespace faultline::test
