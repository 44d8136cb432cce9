// SPDX-License-Identifier: Apache-2.0
// Live counters for Prometheus: `--metrics [ADDR:]PORT` serves the latest
// snapshot as the text exposition format on GET /metrics. The loop that owns
// the session publishes snapshots; the server thread only copies a string.
#pragma once

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "faultline/session.hpp"

namespace faultline {

// The text exposition format for the experiments' counters. `labels` is
// added to every series, e.g. {{"run", "title"}}.
std::string prometheus_text(const std::vector<ExperimentStats>& stats,
                            const std::vector<std::pair<std::string, std::string>>& labels = {});

// key="value", the value escaped as the format wants.
std::string prometheus_label(const std::string& key, const std::string& value);

class MetricsServer {
  public:
    // "PORT" or "ADDR:PORT" ("[::1]:PORT" for v6); ADDR defaults to
    // 127.0.0.1. Throws Error(usage) on a bad address, a busy port ...
    explicit MetricsServer(const std::string& listen);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    void publish(std::string text);
    const std::string& address() const { return address_; } // as bound, e.g. 127.0.0.1:9464

  private:
    void serve();
    int fd_ = -1;
    int stop_[2] = {-1, -1};
    std::string address_;
    std::mutex m_;
    std::string text_ = "# no counters yet\n";
    std::thread th_;
};

} // namespace faultline
