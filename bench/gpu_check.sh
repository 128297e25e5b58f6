#!/bin/bash
# One device check for a lent GPU: builds the minimal CUDA configuration and
# runs every CUDA-capable test and the golden cases in F32 and BF16, the
# block-streaming bench, and a streamed-vs-resident render comparison.
# Usage: bash bench/gpu_check.sh GOLDEN_DIR OUT_DIR   (prints exit codes last)
set -u
G="${1:-.gold}"; OUT="${2:-bench/out}"; mkdir -p "$OUT"
nvidia-smi -L
cmake -S . -B build-gpu -DFRAMEFARM_FARM=OFF -DFRAMEFARM_CUDA=ON -DFRAMEFARM_WERROR=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$OUT/configure.log" 2>&1 &&
  cmake --build build-gpu -j"$(nproc)" >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
echo "build ok"
R=""
run() { # name, command...: runs it with a bound, keeps its log, records its exit code
  local name="$1"; shift
  echo "== $name"
  timeout 150 "$@" >"$OUT/$name.log" 2>&1; local rc=$?
  grep -vE '^(ok |PASS )' "$OUT/$name.log" | tail -15
  R="$R $name=$rc"
}
export FF_GOLDEN="$G"
for t in build-gpu/tests/kernels_test_ops_cuda build-gpu/tests/kernels_test_ops_async \
         build-gpu/tests/kernels_test_ops_bf16 build-gpu/tests/offload_test_stream_dit; do
  [ -x "$t" ] && run "$(basename "$t")" "$t"
done
run golden_f32 build-gpu/framefarm golden --backend cuda "$G"
run golden_bf16 build-gpu/framefarm golden --backend cuda --precision bf16 "$G"
# streamed vs resident render on the GPU: the same bytes
M="$OUT/tiny"; build-gpu/framefarm init-model tiny "$M" >/dev/null 2>&1
run render_resident build-gpu/framefarm render --model "$M" --backend cuda --prompt "a boat" --seed 3 --out "$OUT/res.y4m"
run render_stream build-gpu/framefarm render --model "$M" --backend cuda --prompt "a boat" --seed 3 --offload sequential --group 1 --out "$OUT/seq.y4m"
cmp "$OUT/res.y4m" "$OUT/seq.y4m" && R="$R render_cmp=0" || R="$R render_cmp=1"
[ -x build-gpu/bench_offload_stream ] && run bench_offload_stream build-gpu/bench_offload_stream --backend cuda
echo "EXIT CODES:$R"
