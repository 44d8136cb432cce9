#!/usr/bin/env bash
# The unit suites (the bad-input catalogues of the fault grammar, experiment
# files, journals and metrics requests among them) under AddressSanitizer
# and UndefinedBehaviorSanitizer, any finding fatal. Builds into
# build-sanitize (FAULTLINE_SANITIZE=ON); tools/test.sh runs it.
#
# --thread: ThreadSanitizer instead (build-tsan, FAULTLINE_TSAN=ON), on
# what runs beside faultline's main loop: the metrics server's unit tests
# (slow clients, a stop while a client waits, bad requests) and, as root,
# the `run` tests whose loader has the metrics thread and the steady-state
# probe thread live (the TSan-built faultline under the integration suite;
# a report makes faultline exit 66, which fails the test).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --thread ]; then
  shift
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFAULTLINE_TSAN=ON -DFAULTLINE_BENCH=OFF \
    -DFAULTLINE_CRASHPOINTS=OFF >/dev/null
  cmake --build build-tsan --target unit_tests faultline integration_tests
  export TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1
  build-tsan/tests/unit_tests --gtest_brief=1 --gtest_filter='Metrics.*' "$@"
  if [ "$(id -u)" = 0 ]; then
    FAULTLINE_BIN=$PWD/build-tsan/faultline build-tsan/tests/integration_tests --gtest_brief=1 \
      --gtest_filter='Run.AFailingProbeAbortsWithinOneIntervalAndTheProbeTimeout:Run.MetricsEndpointServesLiveCounters:Run.RampRaises*' "$@"
  else
    echo "sanitize.sh --thread: not root: the integration part (faultline's own threads) did not run" >&2
  fi
  exit 0
fi
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFAULTLINE_SANITIZE=ON -DFAULTLINE_BENCH=OFF \
  -DFAULTLINE_CRASHPOINTS=OFF >/dev/null
cmake --build build-sanitize --target unit_tests
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
build-sanitize/tests/unit_tests --gtest_brief=1 "$@"
