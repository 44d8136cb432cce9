#!/usr/bin/env bash
# The reliability campaign's long runs (issue 12), as root, on this machine's
# kernel; the test command runs each part briefly, this runs them long:
#
#   stops        `faultline stop` at random moments of live sessions
#                (Concurrency.NoCallFailsOnceStopHasReturned, FL_STOPS times):
#                no call the target starts after stop returns may fail
#   concurrency  eight sessions coming and going on one target with sixteen
#                status readers (Concurrency.EightSessions...), N times, each
#                with a new seed
#   fuzz         every libFuzzer target for S seconds (tools/fuzz.sh)
#   tsan         ThreadSanitizer on the metrics and steady-state probe
#                threads (tools/sanitize.sh --thread)
#
#   tools/campaign.sh                          # all: 10^4 stops, 50 runs, 1 h per fuzz target
#   tools/campaign.sh --stops 1000 --runs 10 --fuzz-seconds 0
#   tools/campaign.sh stops                    # one part
#
# Each part prints its figures; the summary is also written to
# build/campaign-summary.txt. Needs the build (tools/build.sh) first.
set -euo pipefail
cd "$(dirname "$0")/.."
stops=10000
runs=50
fuzz_seconds=3600
parts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --stops) stops="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --fuzz-seconds) fuzz_seconds="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    stops|concurrency|fuzz|tsan) parts+=("$1"); shift ;;
    *) echo "campaign.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#parts[@]} -gt 0 ] || parts=(stops concurrency fuzz tsan)
[ "$(id -u)" = 0 ] || { echo "campaign.sh: run as root (namespaces, cgroups, BPF)" >&2; exit 4; }
it=build/tests/integration_tests
[ -x "$it" ] || { echo "campaign.sh: $it is missing: run tools/build.sh first" >&2; exit 2; }

summary=()
for part in "${parts[@]}"; do
  start=$(date +%s)
  case $part in
    stops)
      log=build/campaign-stops.log
      FL_STOPS=$stops "$it" --gtest_filter=Concurrency.NoCallFailsOnceStopHasReturned >"$log" 2>&1 ||
        { tail -40 "$log"; echo "campaign.sh: stops FAILED (log: $log)"; exit 1; }
      summary+=("stops        $(grep -E '^[0-9]+ stops' "$log") ($(($(date +%s) - start)) s)")
      ;;
    concurrency)
      log=build/campaign-concurrency.log
      # --gtest_repeat: each repetition draws a new seed (printed first).
      "$it" --gtest_filter='Concurrency.EightSessions*' --gtest_repeat="$runs" >"$log" 2>&1 ||
        { grep -E -B2 -A12 'Failure' "$log" | tail -60; echo "campaign.sh: concurrency FAILED (log: $log)"; exit 1; }
      reads=$(awk '/^status readers:/ { r += $3 } END { print r + 0 }' "$log")
      sessions=$(grep -c '^session [0-9] (' "$log" || true)
      summary+=("concurrency  $runs runs, $sessions sessions checked, $reads status reads, 0 failed ($(($(date +%s) - start)) s)")
      ;;
    fuzz)
      [ "$fuzz_seconds" -gt 0 ] || continue
      tools/fuzz.sh --seconds "$fuzz_seconds" | tee build/campaign-fuzz.log
      summary+=("fuzz         $(($(date +%s) - start)) s; per target: build/campaign-fuzz.log")
      ;;
    tsan)
      log=build/campaign-tsan.log
      tools/sanitize.sh --thread >"$log" 2>&1 ||
        { grep -E -A30 'WARNING: ThreadSanitizer|Failure' "$log" | tail -60; echo "campaign.sh: tsan FAILED (log: $log)"; exit 1; }
      summary+=("tsan         $(grep -c '^\[  PASSED  \]' "$log") suites clean under ThreadSanitizer ($(($(date +%s) - start)) s)")
      ;;
  esac
done
printf '%s\n' "${summary[@]}" | tee build/campaign-summary.txt
