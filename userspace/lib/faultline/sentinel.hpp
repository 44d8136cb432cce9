// SPDX-License-Identifier: Apache-2.0
// The sentinel: a small process each loader starts before its first side
// effect outside BPF. It holds the read end of a pipe whose only writer is
// the loader; when the loader is gone, by any means (SIGKILL, OOM killer,
// a crash), the pipe ends, and the sentinel removes what the loader's
// records list (fq qdiscs, tc filters, the cgroups it made with their
// processes, the records), then exits. BPF programs need none of this: their
// links die with the loader's file descriptors.
#pragma once

#include <sys/types.h>

namespace faultline {

// Starts this process's sentinel unless it runs already (a fork of this
// process that closes every inherited file descriptor, leaves the session
// and the process group, and ignores SIGINT, SIGTERM and SIGHUP; only
// SIGKILL stops it). Returns once it watches. Throws Error(system) if it
// cannot be started.
void ensure_sentinel();

// Throws Error(system) if this process's sentinel has died (nothing would
// clean up after a kill now): the caller ends its session.
void check_sentinel();

// At a normal end (also run at exit): tells the sentinel this process is
// done, so it removes whatever its records still list and exits, and waits
// for it (up to 5 s). A killed process never gets here: its sentinel sees
// the pipe end instead.
void release_sentinel();

// The sentinel's pid (0 if none was started).
pid_t sentinel_pid();

} // namespace faultline
