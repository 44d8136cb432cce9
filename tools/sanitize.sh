#!/usr/bin/env bash
# The unit suites (the bad-input catalogues of the fault grammar, experiment
# files, journals and metrics requests among them) under AddressSanitizer
# and UndefinedBehaviorSanitizer, any finding fatal. Builds into
# build-sanitize (FAULTLINE_SANITIZE=ON); tools/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFAULTLINE_SANITIZE=ON -DFAULTLINE_BENCH=OFF \
  -DFAULTLINE_CRASHPOINTS=OFF >/dev/null
cmake --build build-sanitize --target unit_tests
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
build-sanitize/tests/unit_tests --gtest_brief=1 "$@"
