// SPDX-License-Identifier: Apache-2.0
#include "faultline/error.hpp"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

namespace faultline {

void throw_errno(const std::string& what, int err, std::string hint) {
    if (err < 0)
        err = -err;
    ErrorKind kind = (err == EPERM || err == EACCES) ? ErrorKind::permission : ErrorKind::system;
    if (kind == ErrorKind::permission && hint.empty())
        hint = "run faultline as root (it needs CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_DAC_OVERRIDE)";
    throw Error(kind, what + ": " + std::strerror(err), std::move(hint));
}

std::string shorten_message(std::string m) {
    if (m.size() <= 400)
        return m;
    return fmt::format("{} … [{} bytes cut] … {}", m.substr(0, 200), m.size() - 300, m.substr(m.size() - 100));
}

} // namespace faultline
