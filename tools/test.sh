#!/usr/bin/env bash
# README command 2: set up a fresh Debian 12 machine and run every test suite:
# format check, unit (no root), BPF_PROG_TEST_RUN and integration (root).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
# The static binary (for initramfs-only kernels) must keep linking.
BUILD_DIR=build-static tools/build.sh -DFAULTLINE_STATIC=ON -DFAULTLINE_TESTS=OFF -DFAULTLINE_BENCH=OFF
build-static/faultline --version
tools/check-format.sh
# cgroup v2 must be mounted somewhere (faultline finds it in mountinfo).
if ! grep -q " - cgroup2 " /proc/self/mountinfo; then
  mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 none /sys/fs/cgroup/unified
fi
cd build
# Serial: the root suites share the machine's cgroups and BPF state.
ctest --output-on-failure --timeout 600 "$@"
