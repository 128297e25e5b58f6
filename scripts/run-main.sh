#!/bin/sh
# The main job for a newcomer (README.md): installs what it needs, builds
# framefarm and runs it. For now that is `framefarm doctor` and the golden
# check of what is built; later issues make it render a video with the
# embedded default model.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
./build/framefarm doctor
