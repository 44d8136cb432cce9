// SPDX-License-Identifier: Apache-2.0
// Integers read from JSON faultline did not necessarily write (session
// records, journals). nlohmann::json's get<T>() for an integer T converts
// whatever number it finds: a float beyond T's range is undefined behaviour
// and a negative number wraps to a huge unsigned one (a map id, a pid).
// These take only integers that fit T (tests/fuzz found the first), and
// refuse others with nlohmann's own exceptions, as a wrong type is.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace faultline {

template <class T> T json_integer(const nlohmann::json& j, const char* what) {
    static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
    if (j.is_number_unsigned()) {
        const auto v = j.get<uint64_t>();
        if (std::in_range<T>(v))
            return static_cast<T>(v);
    } else if (j.is_number_integer()) {
        const auto v = j.get<int64_t>();
        if (std::in_range<T>(v))
            return static_cast<T>(v);
    } else {
        throw nlohmann::json::type_error::create(302, std::string(what) + " is not an integer", &j);
    }
    throw nlohmann::json::out_of_range::create(406, std::string(what) + " is out of range", &j);
}

// o[key] as above, `fallback` when o has no key.
template <class T> T json_integer(const nlohmann::json& o, const char* key, T fallback) {
    return o.contains(key) ? json_integer<T>(o.at(key), key) : fallback;
}

} // namespace faultline
