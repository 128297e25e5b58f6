#!/bin/sh
# The test command (README.md, .ci/run): installs what it needs, configures,
# builds and runs every ctest test; then rebuilds the parsers and ops with
# AddressSanitizer + UBSan and runs the fuzz and unit labels under them.
# Env: JOBS (parallel build jobs, default: number of cores).
set -eu
cd "$(dirname "$0")/.."
JOBS="${JOBS:-$(nproc)}"

sh scripts/install-deps.sh

echo "== build (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRAMEFARM_WERROR=ON >/dev/null
cmake --build build -j "$JOBS"
echo "== ctest (build/)"
(cd build && ctest --output-on-failure -j "$JOBS")

echo "== build (build-asan/: -fsanitize=address,undefined, minimal, no CUDA)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFRAMEFARM_SANITIZE=ON -DFRAMEFARM_CUDA=OFF \
      -DFRAMEFARM_FARM=OFF -DFRAMEFARM_WERROR=ON >/dev/null
cmake --build build-asan -j "$JOBS"
echo "== ctest -L 'fuzz|core|kernels' (build-asan/)"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$JOBS" -L 'fuzz|core|kernels')
echo "test.sh: all tests passed"
