#!/usr/bin/env bash
# README command 2: set up a fresh Debian 12 machine and run every test suite:
# format check, unit (no root; again under ASan + UBSan), libFuzzer targets (short),
# BPF_PROG_TEST_RUN and integration (root) on
# this machine's kernel, then all of them again on each kernel of the VM
# matrix (tools/vmtest).
set -euo pipefail
cd "$(dirname "$0")/.."
# The suites run faultline as root themselves; under sudo, the commands
# faultline starts would run as the invoking user (its default).
unset SUDO_UID SUDO_GID SUDO_USER SUDO_COMMAND
tools/install-deps.sh
tools/build.sh
# The static binary (for initramfs-only kernels) must keep linking.
# It is what the VMs run: with the test-only crash points (kill at every step).
BUILD_DIR=build-static tools/build.sh -DFAULTLINE_STATIC=ON -DFAULTLINE_TESTS=OFF -DFAULTLINE_BENCH=OFF \
  -DFAULTLINE_CRASHPOINTS=ON
build-static/faultline --version
tools/check-hardening.sh build/faultline
tools/check-hardening.sh build-static/faultline static
tools/check-format.sh
# The unit suites, bad-input catalogues included, under ASan + UBSan.
tools/sanitize.sh
# cgroup v2 must be mounted somewhere (faultline finds it in mountinfo).
if ! grep -q " - cgroup2 " /proc/self/mountinfo; then
  mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 none /sys/fs/cgroup/unified
fi
# libFuzzer: each target's corpus (regression inputs included), then 20 s of
# fuzzing (the BPF DNS target as root, in a cgroup of its own).
tools/fuzz.sh --seconds 20
# Serial: the root suites share the machine's cgroups and BPF state.
(cd build && ctest --output-on-failure --timeout 600 "$@")
# The same suites on each kernel of tools/vmtest/kernels.conf under QEMU.
# A failed test, or a kernel that cannot be fetched, built or booted, fails
# the command. FAULTLINE_SKIP_VM=1 leaves it out (for quick local runs only).
if [ "${FAULTLINE_SKIP_VM:-0}" = 1 ]; then
  echo "test.sh: VM kernel matrix NOT run (FAULTLINE_SKIP_VM=1)"
else
  tools/vmtest/run.sh
  # The one test that multi-threaded TCG skips (live-patching should_failslab
  # can hang a vCPU there: README), again on one host thread.
  FL_VM_ACCEL=tcg,thread=single tools/vmtest/run.sh --only fl-override-6.1 --filter 'Mem.Slab*'
fi
