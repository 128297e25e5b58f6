#!/bin/sh
# bench/cpu_side_by_side.sh: framefarm's CPU backend next to PyTorch on the
# same cores, weights and inputs: the Wan 2.1 VAE decode (128x128x17,
# 256x256x9), one Wan transformer forward at the 1.3B width with 1 block
# (1024, 4096 tokens) and the UMT5 encoder (512 tokens, 2 layers at the real
# width). Prints time, peak RSS (each side in its own process) and rel_l2,
# and writes bench/results/cpu_side_by_side.md. One command:
#
#     sh bench/cpu_side_by_side.sh
#
# It makes its own Python virtual environment (torch, transformers,
# accelerate, safetensors from PyPI; diffusers from the source tarball in
# ../shared/peers at the golden commit), builds bench_cpu_side_by_side,
# writes the random-weight models and inputs once, then runs the cases.
# Never needed by the tests. Knobs (environment):
#   THREADS (2)  REPS (2, best of)  CASES ("vae128 vae256 dit1024 dit4096 umt5")
#   BUILD (build)  BENCH_VENV ($BUILD/bench-venv)  BENCH_DATA ($BUILD/cpu-sbs)
#   OUT (bench/results/cpu_side_by_side.md; "" = print only)  PYTHON (python3)
# Run it on a quiet machine: the report flags rows taken while the load
# average was above 1.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
VENV=${BENCH_VENV:-$BUILD/bench-venv}
DATA=${BENCH_DATA:-$BUILD/cpu-sbs}
THREADS=${THREADS:-2}
REPS=${REPS:-2}
CASES=${CASES:-vae128 vae256 dit1024 dit4096 umt5}
OUT=${OUT-bench/results/cpu_side_by_side.md}
PEER_TAR=$ROOT/../shared/peers/diffusers-58eb52c0-src.tar.gz
PEER=$BUILD/peer-diffusers

if ! "$VENV/bin/python" -c "import torch, transformers, accelerate, safetensors, numpy, requests, regex, PIL" \
    2>/dev/null; then
  echo "cpu_side_by_side: making the virtual environment $VENV (torch from PyPI: a few GiB)"
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/pip" install -q torch transformers accelerate safetensors numpy sentencepiece requests regex \
    Pillow importlib_metadata "httpx<1.0.0"
fi
if [ ! -d "$PEER/diffusers-58eb52c0/src" ]; then
  [ -f "$PEER_TAR" ] || { echo "cpu_side_by_side: no $PEER_TAR" >&2; exit 2; }
  mkdir -p "$PEER"
  tar xzf "$PEER_TAR" -C "$PEER"
fi
PYTHONPATH=$ROOT/$PEER/diffusers-58eb52c0/src
case $PEER in /*) PYTHONPATH=$PEER/diffusers-58eb52c0/src ;; esac
export PYTHONPATH

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRAMEFARM_CUDA=OFF -DFRAMEFARM_FARM=OFF
fi
cmake --build "$BUILD" --target bench_cpu_side_by_side

if [ ! -f "$DATA/in_umt5.safetensors" ]; then
  "$VENV/bin/python" bench/cpu_side_by_side.py --threads "$THREADS" make "$DATA" --configs "$ROOT/../shared/configs"
fi

set -- --ff "$BUILD/bench_cpu_side_by_side" --reps "$REPS" --cases "$CASES" \
  --command "THREADS=$THREADS REPS=$REPS sh bench/cpu_side_by_side.sh"
[ -n "$OUT" ] && set -- "$@" --md "$OUT"
"$VENV/bin/python" bench/cpu_side_by_side.py --threads "$THREADS" report "$DATA" "$@"
