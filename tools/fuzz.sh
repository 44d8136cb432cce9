#!/usr/bin/env bash
# libFuzzer over faultline's parsers and its index (tests/fuzz): the fault
# grammar, experiment files, journals (report), session records, metrics
# requests, the two-choice index against a model, and the BPF DNS
# error-answer rewrite through BPF_PROG_TEST_RUN against a reference
# (dns_rewrite: as root, where the kernel has dns.nxdomain; elsewhere it
# says why and counts as skipped). Each target first
# replays its corpus (the seeds and every input that once made it fail:
# tests/fuzz/corpus/TARGET), then fuzzes for the budget. A finding fails
# the command and is saved under build-fuzz/findings/TARGET/; copy it into
# the corpus as crash-NAME once fixed.
#
#   tools/fuzz.sh                  # 20 s per target (what tools/test.sh runs)
#   tools/fuzz.sh --seconds 3600   # long runs; new inputs go to build-fuzz/corpus
#   tools/fuzz.sh --seconds 60 grammar journal
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=20
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(grammar experiment journal record metrics_request index dns_rewrite)

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFAULTLINE_FUZZ=ON \
  -DFAULTLINE_TESTS=OFF -DFAULTLINE_BENCH=OFF -DFAULTLINE_CRASHPOINTS=OFF >/dev/null
cmake --build build-fuzz --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
summary=()
for t in "${targets[@]}"; do
  bin=build-fuzz/tests/fuzz/fuzz_$t
  seeds=tests/fuzz/corpus/$t
  work=build-fuzz/corpus/$t
  findings=build-fuzz/findings/$t
  mkdir -p "$work" "$findings"
  log=build-fuzz/fuzz-$t.log
  # New inputs go to $work (first directory); the repository's seeds are read only.
  rc=0
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$findings/" "$work" "$seeds" >"$log" 2>&1 || rc=$?
  # dns_rewrite's scratch cgroup, if it died before removing it
  find /sys/fs/cgroup -maxdepth 3 -type d -name "faultline-fuzz-*" -exec rmdir {} + 2>/dev/null || true
  if [ "$rc" = 79 ]; then # the target cannot run here (it says why)
    summary+=("$(printf '%-16s SKIPPED: %s' "$t" "$(sed -n 's/^fuzz_[a-z_]*: SKIPPED: //p' "$log")")")
    continue
  elif [ "$rc" != 0 ]; then
    tail -40 "$log"
    echo "fuzz.sh: fuzz_$t FOUND something: $(ls "$findings")"
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  summary+=("$(printf '%-16s %5ss %12s runs %8s runs/s  cov %5s edges  corpus %s' "$t" "$seconds" "$runs" \
    "$((runs / (seconds > 0 ? seconds : 1)))" "${cov:-?}" "$(find "$work" "$seeds" -type f | wc -l)")")
done
echo "fuzz.sh: no findings"
printf '  %s\n' "${summary[@]}"
