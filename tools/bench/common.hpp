// SPDX-License-Identifier: Apache-2.0
// Shared bits of the benchmark tools: a stop flag set by SIGINT/SIGTERM (so
// that every tool unwinds through its destructors and removes what it made),
// small option parsing and statistics.
#pragma once

#include <algorithm>
#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "faultline/error.hpp"

namespace faultline::bench {

inline volatile std::sig_atomic_t g_stop = 0;

// Installed without SA_RESTART: a blocking recv()/pause() returns EINTR and
// the loop around it sees the flag.
inline void install_stop_handlers() {
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_stop = 1; };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
}

inline bool stop_requested() {
    return g_stop != 0;
}

struct Stopped : std::runtime_error {
    Stopped() : std::runtime_error("stopped by a signal") {}
};

inline void throw_if_stopped() {
    if (stop_requested())
        throw Stopped();
}

inline double now_s() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// "--name value" options; the tools are driven by run.sh, so no more is needed.
class Args {
  public:
    Args(int argc, char** argv, int first = 1) : v_(argv + first, argv + argc) {}

    std::string str(std::string_view name, std::string def) const {
        for (size_t i = 0; i + 1 < v_.size(); i++)
            if (v_[i] == name)
                return v_[i + 1];
        return def;
    }
    template <typename T> T num(std::string_view name, T def) const {
        std::string s = str(name, "");
        if (s.empty())
            return def;
        T out{};
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        if (ec != std::errc() || p != s.data() + s.size())
            throw std::invalid_argument("bad value for " + std::string(name) + ": " + s);
        return out;
    }
    bool flag(std::string_view name) const { return std::find(v_.begin(), v_.end(), name) != v_.end(); }

  private:
    std::vector<std::string> v_;
};

inline double median(std::vector<double> v) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// main() of a tool: stop handlers, then fn(); errors (faultline's with their
// hint) are printed with the tool's name and give exit status 2.
template <typename Fn> int tool_main(const char* name, Fn fn) {
    install_stop_handlers();
    try {
        return fn();
    } catch (const faultline::Error& e) {
        fmt::print(stderr, "{}: {}{}\n", name, e.what(), e.hint().empty() ? "" : "\n  hint: " + e.hint());
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: {}\n", name, e.what());
    }
    return 2;
}

} // namespace faultline::bench
