// SPDX-License-Identifier: Apache-2.0
// Live counters for Prometheus: `--metrics [ADDR:]PORT` serves the latest
// snapshot as the text exposition format on GET /metrics. The loop that owns
// the session publishes snapshots; the server thread only copies a string.
#pragma once

#include <chrono>
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

// A request read once: what is wrong with its form (RFC 9112) as the status
// to answer, or "" for nothing (a request line METHOD SP TARGET SP
// HTTP/1.x, header lines with a colon, one Host, a non-empty one on
// HTTP/1.1), and its Host, lower-cased, port removed ("" if none).
struct MetricsRequest {
    std::string bad_status;
    std::string host;
};
MetricsRequest parse_metrics_request(const std::string& request);

// Serves up to kMaxConns clients at once, each within kConnDeadline of its
// accept (request read, answer sent), so no client holds up another or the
// session's end. On a loopback address it answers only requests that name
// this machine (Host: localhost, 127.x, [::1]), which keeps a web page in a
// local browser from reading it through DNS rebinding.
class MetricsServer {
  public:
    static constexpr size_t kMaxConns = 32;
    static constexpr size_t kMaxRequest = 8192;
    static constexpr std::chrono::milliseconds kConnDeadline{2000};

    // "PORT" or "ADDR:PORT" ("[::1]:PORT" for v6); ADDR defaults to
    // 127.0.0.1. An ADDR that is not loopback needs allow_public
    // (--metrics-public). Throws Error(usage) on a bad address, a busy
    // port ...
    explicit MetricsServer(const std::string& listen, bool allow_public = false);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    void publish(std::string text);
    const std::string& address() const { return address_; } // as bound, e.g. 127.0.0.1:9464
    bool is_public() const { return public_; }              // reachable from other machines
    std::string describe() const;                           // "metrics on http://ADDR/metrics", and what public means

  private:
    void serve();
    std::string respond(const std::string& request);
    int fd_ = -1;
    bool public_ = false;
    int stop_[2] = {-1, -1};
    std::string address_;
    std::mutex m_;
    std::string text_ = "# no counters yet\n";
    std::thread th_;
};

} // namespace faultline
