#!/bin/sh
# The main job for a newcomer (README.md): installs what it needs, builds
# framefarm and renders a video with the embedded default model (a tiny
# SMOKE-TEST model with random weights, created on first use in
# ~/.cache/framefarm/tiny: the video is noise-like, the whole pipeline runs),
# then prints where the file is.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
mkdir -p out
./build/framefarm render --prompt "A cat and a dog baking a cake together in a kitchen." --out out/demo.mp4
echo "video: $(pwd)/out/demo.mp4"
