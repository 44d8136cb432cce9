#!/usr/bin/env bash
# Line coverage of what a fuzz target's corpus reaches (llvm-cov): the
# repository's seeds and regression inputs plus what tools/fuzz.sh has
# found so far (build-fuzz/corpus/TARGET), replayed once through a build
# with clang's source-based coverage (build-cov). Prints the report for the
# source files that target exists for.
#
#   tools/fuzz-coverage.sh grammar          # userspace/lib/spec.cpp
#   tools/fuzz-coverage.sh experiment       # userspace/lib/experiment.cpp
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: tools/fuzz-coverage.sh TARGET}
case $target in
  grammar) sources=(userspace/lib/spec.cpp userspace/lib/faults.cpp) ;;
  experiment) sources=(userspace/lib/experiment.cpp) ;;
  journal) sources=(userspace/lib/journal_report.cpp userspace/lib/counters_text.cpp) ;;
  record) sources=(userspace/lib/state.cpp) ;;
  metrics_request) sources=(userspace/lib/metrics.cpp) ;;
  index) sources=(userspace/lib/index.cpp) ;;
  *) echo "fuzz-coverage.sh: no target '$target'" >&2; exit 2 ;;
esac
flags="-fprofile-instr-generate -fcoverage-mapping"
CC=clang CXX=clang++ cmake -S . -B build-cov -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFAULTLINE_FUZZ=ON \
  -DFAULTLINE_TESTS=OFF -DFAULTLINE_BENCH=OFF -DFAULTLINE_CRASHPOINTS=OFF \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build build-cov --target "fuzz_$target" >/dev/null
bin=build-cov/tests/fuzz/fuzz_$target
dirs=(tests/fuzz/corpus/"$target")
[ -d "build-fuzz/corpus/$target" ] && dirs+=("build-fuzz/corpus/$target")
rm -f build-cov/"$target".profraw
LLVM_PROFILE_FILE=build-cov/$target.profraw ASAN_OPTIONS=detect_leaks=0 "$bin" -runs=0 "${dirs[@]}" \
  >build-cov/"$target".log 2>&1
llvm-profdata merge -sparse build-cov/"$target".profraw -o build-cov/"$target".profdata
echo "fuzz-coverage.sh: $target, corpus $(find "${dirs[@]}" -type f | wc -l) inputs"
llvm-cov report "$bin" -instr-profile=build-cov/"$target".profdata "${sources[@]}"
