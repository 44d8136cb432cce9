// SPDX-License-Identifier: Apache-2.0
// The metrics server's request parser: any bytes give a status to refuse
// with (400 or 505) or a request with a Host that is lower case and
// without its port; never a crash or an exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "faultline/metrics.hpp"
#include "fuzz_common.hpp"

using namespace faultline;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > MetricsServer::kMaxRequest)
        return 0; // the server reads no more
    const std::string req(reinterpret_cast<const char*>(data), size);
    const MetricsRequest r = parse_metrics_request(req);
    fuzz::check(r.bad_status.empty() || r.bad_status == "400 Bad Request" ||
                    r.bad_status == "505 HTTP Version Not Supported",
                "an unexpected status: " + r.bad_status);
    if (!r.bad_status.empty()) {
        fuzz::check(r.host.empty(), "a refused request with a host");
        return 0;
    }
    fuzz::check(req.find("\r\n") != std::string::npos, "a request without a line end was accepted");
    for (char c : r.host)
        fuzz::check(!(c >= 'A' && c <= 'Z'), "a host not in lower case: " + r.host);
    if (!r.host.empty() && r.host[0] == '[')
        fuzz::check(r.host.find(']') == r.host.size() - 1 || r.host.find(']') == std::string::npos,
                    "text after a bracketed host: " + r.host);
    else
        fuzz::check(r.host.find(':') == std::string::npos, "a host with its port: " + r.host);
    fuzz::check(r.host.find_first_of("\r\n") == std::string::npos, "a host across lines");
    return 0;
}
