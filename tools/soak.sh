#!/usr/bin/env bash
# The soak (issue 12): one `faultline run` cycling 1 -> 5 % ramps over every
# fault the kernel supports, against steady TCP, DNS, UDP, file and memory
# load, with a metrics scraper and a slow client (Soak.* in
# tests/integration/soak_test.cpp). It fails if faultline's RSS or
# descriptors drift, BPF maps pile up, a ramp window misses its rate, a
# scrape goes unanswered or the kernel logs a WARNING/BUG/lockup/stall, and
# prints those figures either way. Not part of the test command.
#
#   tools/soak.sh                      # an hour, on this machine's kernel
#   tools/soak.sh 600                  # ten minutes
#   tools/soak.sh 3600 --vm fl-override-6.1   # in a VM of tools/vmtest (TCG)
#
# FL_SOAK_STEP_SECONDS sets each ramp's length (default 30 s). Needs the
# build (tools/build.sh; for --vm also the static build, as tools/test.sh
# makes it) and root.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=3600
vm=""
while [ $# -gt 0 ]; do
  case "$1" in
    --vm) vm="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    [0-9]*) seconds="$1"; shift ;;
    *) echo "soak.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "soak.sh: run as root (namespaces, cgroups, BPF)" >&2; exit 4; }
it=build/tests/integration_tests
[ -x "$it" ] || { echo "soak.sh: $it is missing: run tools/build.sh first" >&2; exit 2; }
export FL_SOAK_SECONDS=$seconds
if [ -n "$vm" ]; then
  # The VM's own limit: the soak, and half an hour to boot and wind down.
  FL_VM_TIMEOUT=$((seconds * 2 + 1800)) tools/vmtest/run.sh --only "$vm" --filter 'Soak.*'
  grep -E '^soak: ' "build/vmtest/$vm/console.log" || true
else
  "$it" --gtest_filter='Soak.*' 2>&1 | grep -v '^faultline: \['
fi
