// SPDX-License-Identifier: Apache-2.0
// Counters as text and JSON (status, inject, exec, demo).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "faultline/session.hpp"

namespace faultline {

nlohmann::json stats_json(const ExperimentStats& s);
nlohmann::json stats_json(const std::vector<ExperimentStats>& v);
// "net.drop@1%  evaluated 1000 matched 1000 injected 11 (1.10% of matched)"
std::string stats_line(const ExperimentStats& s);

} // namespace faultline
