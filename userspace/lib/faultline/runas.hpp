// SPDX-License-Identifier: Apache-2.0
// Who the commands faultline starts run as: `exec`'s command, an
// experiment's `exec:` target and its steady-state `command:`. faultline
// needs root to attach programs; the commands do not, and an experiment
// file is code: they run as the invoking user, with no capabilities and
// no_new_privs, unless root is asked for.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace faultline {

struct RunAs {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups; // supplementary
    std::string name;          // for messages: "alice (1000)"
    bool root() const { return uid == 0; }
};

// USER is a name or a uid. "" is the user who ran sudo (SUDO_UID,
// SUDO_GID, SUDO_USER) when faultline runs as root under sudo, else the
// user faultline runs as. Resolved before any fork (it reads the user
// database). Throws Error(usage) for an unknown user, Error(permission)
// when faultline cannot switch to another user or stop its processes.
RunAs resolve_run_as(const std::string& user);

// In a forked child, before exec: become `as` (groups, gid, uid; every
// capability goes with the uid; ambient ones are cleared even where the uid
// stays) with no_new_privs. Does nothing for root.
// Returns 0 or the errno of the step that failed; only system calls, so
// it is safe after fork in a threaded process.
int become(const RunAs& as);

} // namespace faultline
