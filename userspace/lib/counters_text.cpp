// SPDX-License-Identifier: Apache-2.0
#include "faultline/counters_text.hpp"

#include <fmt/format.h>

namespace faultline {

nlohmann::json stats_json(const ExperimentStats& s) {
    return {{"id", s.id},
            {"spec", s.spec},
            {"percent", s.percent},
            {"evaluated", s.counters.evaluated},
            {"matched", s.counters.matched},
            {"injected", s.counters.injected},
            {"expired", s.counters.expired},
            {"not_held", s.counters.not_held},
            {"achieved_percent", s.achieved_percent()}};
}

nlohmann::json stats_json(const std::vector<ExperimentStats>& v) {
    auto a = nlohmann::json::array();
    for (const auto& s : v)
        a.push_back(stats_json(s));
    return a;
}

std::string stats_line(const ExperimentStats& s) {
    return fmt::format("{}  evaluated {} matched {} injected {} ({} of matched, configured {}){}{}", s.spec,
                       s.counters.evaluated, s.counters.matched, s.counters.injected,
                       format_percent(s.achieved_percent()), format_percent(s.percent),
                       s.counters.expired ? fmt::format(" expired-hits {}", s.counters.expired) : "",
                       s.counters.not_held ? fmt::format(" not-held {}", s.counters.not_held) : "");
}

} // namespace faultline
