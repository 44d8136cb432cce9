// SPDX-License-Identifier: Apache-2.0
#include "faultline/error.hpp"

#include <cerrno>
#include <cstring>

namespace faultline {

void throw_errno(const std::string& what, int err, std::string hint) {
    if (err < 0)
        err = -err;
    ErrorKind kind = (err == EPERM || err == EACCES) ? ErrorKind::permission : ErrorKind::system;
    if (kind == ErrorKind::permission && hint.empty())
        hint = "run faultline as root (it needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN)";
    throw Error(kind, what + ": " + std::strerror(err), std::move(hint));
}

} // namespace faultline
