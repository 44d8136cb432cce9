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
    std::string out;
    out.reserve(m.size());
    for (char c : m) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\n')
            out += "\\n";
        else if (c == '\t')
            out += "\\t";
        else if (u < 0x20 || u == 0x7f)
            out += fmt::format("\\x{:02x}", u);
        else
            out += c;
    }
    if (out.size() <= 400)
        return out;
    // Cut between characters, not inside one (UTF-8 continuation bytes are
    // 10xxxxxx): at most three bytes back, since a character has at most
    // four. Text that is not UTF-8 may be nothing but such bytes, and must
    // still be cut where the bound says.
    auto boundary = [&](size_t at) {
        for (int k = 0; k < 3 && at > 0 && (static_cast<unsigned char>(out[at]) & 0xc0) == 0x80; k++)
            at--;
        return at;
    };
    const size_t head = boundary(200), tail = boundary(out.size() - 100);
    return fmt::format("{} … [{} bytes cut] … {}", out.substr(0, head), tail - head, out.substr(tail));
}

} // namespace faultline
