// SPDX-License-Identifier: Apache-2.0
#include "faultline/runas.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "faultline/caps.hpp"
#include "faultline/error.hpp"

namespace faultline {

namespace {

RunAs lookup(const std::string& user) {
    std::string who = user;
    if (who.empty()) {
        const char* sudo_uid = getenv("SUDO_UID");
        if (geteuid() != 0 || !sudo_uid || !*sudo_uid)
            who = std::to_string(geteuid());
        else
            who = sudo_uid;
    }
    if (who == "root")
        return RunAs{0, 0, {0}, "root (0)"}; // also where there is no user database (an initramfs)
    // A number is a uid (as sudo's -u #UID); else a name.
    uid_t uid = 0;
    auto [end, ec] = std::from_chars(who.data(), who.data() + who.size(), uid);
    bool numeric = ec == std::errc() && end == who.data() + who.size();
    std::vector<char> buf(16384);
    passwd pw{}, *found = nullptr;
    if (numeric)
        getpwuid_r(uid, &pw, buf.data(), buf.size(), &found);
    else
        getpwnam_r(who.c_str(), &pw, buf.data(), buf.size(), &found);
    RunAs as;
    // Under sudo, the invoking user's group is SUDO_GID (sudo -g may have
    // changed it from the passwd entry's).
    const char* sudo_gid = user.empty() ? getenv("SUDO_GID") : nullptr;
    if (found) {
        as.uid = pw.pw_uid;
        as.gid = sudo_gid && *sudo_gid ? static_cast<gid_t>(strtoul(sudo_gid, nullptr, 10)) : pw.pw_gid;
        as.name = fmt::format("{} ({})", pw.pw_name, pw.pw_uid);
        int n = 64;
        std::vector<gid_t> groups(static_cast<size_t>(n));
        if (getgrouplist(pw.pw_name, as.gid, groups.data(), &n) < 0) {
            groups.resize(static_cast<size_t>(n));
            getgrouplist(pw.pw_name, as.gid, groups.data(), &n);
        }
        groups.resize(static_cast<size_t>(std::max(n, 0)));
        as.groups = std::move(groups);
    } else if (numeric) {
        // A uid without a passwd entry (a container's): its own group only.
        as.uid = uid;
        as.gid = sudo_gid && *sudo_gid ? static_cast<gid_t>(strtoul(sudo_gid, nullptr, 10)) : uid;
        as.groups = {as.gid};
        as.name = fmt::format("uid {}", uid);
    } else {
        throw Error(ErrorKind::usage, fmt::format("unknown user '{}'", user),
                    "--user (user: in a file) takes a user name or a uid; `root` runs the commands as root");
    }
    return as;
}

} // namespace

RunAs resolve_run_as(const std::string& user) {
    RunAs as = lookup(user);
    // Another user's commands: faultline must be able to become that user
    // and to stop what it started. Found here, before anything attaches.
    if (!as.root() && as.uid != geteuid())
        require_capabilities(run_as_capabilities());
    return as;
}

int become(const RunAs& as) {
    if (as.root())
        return 0;
    // Ambient capabilities would survive the exec (a faultline given
    // capabilities as a non-root service runs commands as itself: the uid
    // does not change and nothing else clears them). EINVAL: a kernel
    // without ambient capabilities has none to clear.
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return errno;
    // Already that user (a non-root faultline running commands as itself):
    // nothing to switch, and switching groups would need CAP_SETGID.
    bool same = getuid() == as.uid && geteuid() == as.uid && getgid() == as.gid && getegid() == as.gid;
    if (!same && (setgroups(as.groups.size(), as.groups.data()) != 0 || setresgid(as.gid, as.gid, as.gid) != 0 ||
                  setresuid(as.uid, as.uid, as.uid) != 0))
        return errno;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return errno;
    return 0;
}

} // namespace faultline
