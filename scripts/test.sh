#!/bin/sh
# The test command (README.md, .ci/run): installs what it needs, configures,
# builds and runs every ctest test; then
#  - rebuilds with AddressSanitizer + UBSan, the farm included (-O1, asserts
#    on), and runs the fuzz, core, kernels, farm and leaks labels and the
#    farm's CLI tests (tests/cli/farm_*.sh) under them, leaks checked;
#  - builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang and runs
#    each on a copy of its committed corpus (tests/fuzz/corpus/NAME) for
#    FUZZ_SECONDS; a crash fails the run and leaves its input in build-fuzz/.
# Prints each stage's start and the total time.
# Env: JOBS (parallel build jobs, default: number of cores), FUZZ_SECONDS
# (default 30 per target).
set -eu
cd "$(dirname "$0")/.."
JOBS="${JOBS:-$(nproc)}"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
t0=$(date +%s)
stage() { echo "== $* (at $(($(date +%s) - t0)) s)"; }

sh scripts/install-deps.sh

stage "build (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRAMEFARM_WERROR=ON >/dev/null
cmake --build build -j "$JOBS"
stage "ctest (build/)"
(cd build && ctest --output-on-failure -j "$JOBS")

stage "build (build-asan/: -fsanitize=address,undefined, farm on, no CUDA)"
# (warnings are errors in build/; here the instrumented -O1 code gets gcc's
# range-analysis warnings on others' code that the -O2 build does not: kept as warnings)
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_C_FLAGS_DEBUG=-g -O1" -DFRAMEFARM_SANITIZE=ON \
      -DFRAMEFARM_CUDA=OFF -DFRAMEFARM_FARM=ON -DFRAMEFARM_WERROR=OFF >/dev/null
cmake --build build-asan -j "$JOBS"
stage "ctest -L 'fuzz|core|kernels|farm|leaks' and -R '^cli_(farm_|input_limits)' (build-asan/)"
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
(cd build-asan && ctest --output-on-failure -j "$JOBS" -L 'fuzz|core|kernels|farm|leaks')
(cd build-asan && ctest --output-on-failure -j "$JOBS" -R '^cli_(farm_|input_limits)')
unset ASAN_OPTIONS UBSAN_OPTIONS

stage "libFuzzer targets (build-fuzz/: clang), ${FUZZ_SECONDS} s each"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRAMEFARM_CUDA=OFF \
      -DFRAMEFARM_FARM=ON -DFRAMEFARM_WERROR=OFF >/dev/null
targets=$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
# shellcheck disable=SC2086
cmake --build build-fuzz -j "$JOBS" --target $targets
for t in $targets; do
  [ -d "tests/fuzz/corpus/$t" ] || { echo "test.sh: no corpus tests/fuzz/corpus/$t for $t"; exit 1; }
  rm -rf "build-fuzz/corpus/$t" && mkdir -p "build-fuzz/corpus" && cp -r "tests/fuzz/corpus/$t" "build-fuzz/corpus/$t"
  echo "-- $t"
  (cd build-fuzz && "tests/$t" -max_total_time="$FUZZ_SECONDS" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
      "corpus/$t" >"fuzz-$t.log" 2>&1) || { tail -n 40 "build-fuzz/fuzz-$t.log"; echo "test.sh: $t found a crash"; exit 1; }
  grep -E '^stat::number_of_executed_units|^Done' "build-fuzz/fuzz-$t.log" || true
done
echo "test.sh: all tests passed in $(($(date +%s) - t0)) s"
