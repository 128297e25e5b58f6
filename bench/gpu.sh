#!/bin/sh
# bench/gpu.sh [GOLDEN_DIR] [OUT_DIR]: the CUDA backend on this machine's GPU, in one run.
#
#  1. builds the minimal CUDA build (FRAMEFARM_FARM=OFF, FRAMEFARM_CUDA=ON,
#     RelWithDebInfo; Ninja when present, else Unix Makefiles) in $BUILD_DIR,
#     targets framefarm and bench_gpu_ops only;
#  2. prints the GPU (nvidia-smi: name, memory, clocks, driver);
#  3. runs every golden case on it: framefarm golden --backend cuda GOLDEN_DIR
#     (default .gold, else ../shared/golden);
#  4. times the ops and one Wan transformer block (bench_gpu_ops) and the same
#     ops in PyTorch (bench/gpu_torch.py; skipped with a note when torch does
#     not import);
#  5. with MEMCHECK=1, runs a few golden cases under compute-sanitizer memcheck
#     and prints its "ERROR SUMMARY" line;
#  6. prints one markdown table last: framefarm and torch side by side against
#     the roofline (roofline time = max(bytes / HBM bandwidth, FLOPs / peak)),
#     also written to OUT_DIR/gpu-table.md;
#  7. with SPEED=1, the speed table of issue 14 (bench/gpu_speed.sh: the 1.3B
#     model with random weights in SPEED_MODEL, default /tmp/ff_wan13b; torch +
#     diffusers from PEER, the src/ of the peer tarball): OUT_DIR/gpu_speed.json
#     and .md, copied to bench/results/.
#
# OUT_DIR (default $OUT, else bench/out) gets every log: build.log,
# nvidia-smi.txt, golden.txt, ops-framefarm.txt, ops-torch.txt, memcheck-*.txt,
# gpu-table.md. Never a pass/fail test of speed; the exit code is 0 when the
# build, golden cases, benches (and memcheck) all succeeded, 1 otherwise, 2
# when there is no GPU.
#
# Env:
#   MEMCHECK=1          also run compute-sanitizer (cases: MEMCHECK_CASES, comma-separated
#                       --filter substrings; default transformer_f1_t999,vae_decode_f1)
#   BUILD_DIR           build folder (default build-gpubench)
#   JOBS                parallel build jobs (default nproc)
#   MIN_MS              minimum ms of timed calls per op (default 50)
#   BUDGET_S            the whole run's time budget (default 540 s): each step after the
#                       build is killed at its own limit or at this deadline, whichever is
#                       first, and skipped once less than 15 s are left
#   GOLDEN_FILTER       pass --filter to the golden run
#   PEAK_GBPS, PEAK_FP32, PEAK_TF32, PEAK_BF16   override the roofline peaks (GB/s, TFLOP/s)
#   PYTHON              the python with torch (default python3)
#   BENCH_CPU=1         check this script on a machine without a GPU: everything on
#                       the CPU backend at --small shapes (the numbers mean nothing)
# Peaks: H100 SXM 3.35 TB/s HBM3, 67 TFLOP/s FP32 (non-tensor), 495 TF32 / 989 BF16
# (dense tensor core); H200 4.8 TB/s, same compute; H100 PCIe / NVL their own
# datasheet figures; any other card the nominal figures bench_gpu_ops derives
# from the device attributes (memoryClockRate x 2 x busWidth; SMs x FP32 lanes x
# 2 x clock), with no tensor-core peaks.
set -u
CALLER_DIR=$(pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# paths given by the caller are relative to the caller's folder; the defaults to the repository
abs() { case "$1" in /*) echo "$1" ;; *) echo "$CALLER_DIR/$1" ;; esac; }
GOLD=${1:-}
[ -n "$GOLD" ] && GOLD=$(abs "$GOLD")
if [ -n "${2:-}" ]; then OUT_DIR=$(abs "$2"); elif [ -n "${OUT:-}" ]; then OUT_DIR=$(abs "$OUT"); else OUT_DIR=bench/out; fi
cd "$ROOT" || exit 1

BUILD_DIR=${BUILD_DIR:-build-gpubench}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
MIN_MS=${MIN_MS:-50}
PYTHON=${PYTHON:-python3}
CPU=${BENCH_CPU:-0}
mkdir -p "$OUT_DIR" || exit 1
OUT_DIR=$(cd "$OUT_DIR" && pwd)
T_START=$(date +%s)
BUDGET_S=${BUDGET_S:-540}
DEADLINE=$((T_START + BUDGET_S))
STATUS=0 # 1 once any step failed
SUMMARY=$OUT_DIR/summary.txt
: >"$SUMMARY"

note() { echo "$*" | tee -a "$SUMMARY"; }

# run_step NAME LOG LIMIT_S CMD...: runs CMD (a program, not a shell function,
# unless LIMIT_S is 0) with its output shown and saved in LOG, killed after
# LIMIT_S seconds (0: no limit); sets RC.
run_step() {
    _name=$1 _log=$2 _limit=$3
    shift 3
    echo
    if [ "$_limit" -gt 0 ]; then # never past the whole run's deadline
        _left=$((DEADLINE - $(date +%s) - 5))
        [ "$_left" -lt "$_limit" ] && _limit=$_left
        if [ "$_limit" -lt 15 ]; then
            echo "== $_name: SKIP: the run's time budget (BUDGET_S=$BUDGET_S s) is spent" | tee "$_log"
            RC=125
            return
        fi
    fi
    echo "== $_name: $*"
    _t0=$(date +%s)
    if [ "$_limit" -gt 0 ] && command -v timeout >/dev/null 2>&1; then
        { timeout "$_limit" "$@"; echo $? >"$OUT_DIR/.rc"; } 2>&1 | tee "$_log"
    else
        { "$@"; echo $? >"$OUT_DIR/.rc"; } 2>&1 | tee "$_log"
    fi
    RC=$(cat "$OUT_DIR/.rc" 2>/dev/null || echo 1)
    rm -f "$OUT_DIR/.rc"
    _dt=$(($(date +%s) - _t0))
    [ "$RC" = 124 ] && echo "== $_name: killed after ${_limit} s (time limit)"
    echo "== $_name: exit $RC in ${_dt} s"
}

echo "bench/gpu.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)," \
    "out $OUT_DIR"

# ---- 0. is there a GPU? ---------------------------------------------------------------
DEV_NAME=cpu
if [ "$CPU" = 1 ]; then
    note "BENCH_CPU=1: CPU backend, --small shapes; a check of this script, not a measurement"
else
    if ! command -v nvidia-smi >/dev/null 2>&1; then
        echo "no CUDA device: nvidia-smi not found; bench/gpu.sh needs an NVIDIA GPU" \
            "(BENCH_CPU=1 checks the script itself on the CPU backend)" | tee "$OUT_DIR/no-gpu.txt"
        exit 2
    fi
    if ! nvidia-smi -L >"$OUT_DIR/nvidia-smi-L.txt" 2>&1 || ! grep -q '^GPU ' "$OUT_DIR/nvidia-smi-L.txt"; then
        echo "no CUDA device: nvidia-smi -L lists no GPU: $(head -c 300 "$OUT_DIR/nvidia-smi-L.txt" | tr '\n' ' ')" |
            tee "$OUT_DIR/no-gpu.txt"
        exit 2
    fi
    DEV_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
fi

# ---- 1. build -------------------------------------------------------------------------
GEN="" # an existing build folder keeps the generator it was configured with
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    if command -v ninja >/dev/null 2>&1; then GEN=Ninja; else GEN="Unix Makefiles"; fi
fi
CUDA_OPT=ON
[ "$CPU" = 1 ] && CUDA_OPT=${FRAMEFARM_CUDA:-AUTO}
# shellcheck disable=SC2317 # called through run_step
build() {
    set -- -S . -B "$BUILD_DIR" -DFRAMEFARM_FARM=OFF -DFRAMEFARM_CUDA="$CUDA_OPT" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DFRAMEFARM_WERROR=OFF
    if [ -n "$GEN" ]; then cmake -G "$GEN" "$@" || return 1; else cmake "$@" || return 1; fi
    cmake --build "$BUILD_DIR" --target framefarm bench_gpu_ops bench_gpu_speed -j "$JOBS"
}
run_step build "$OUT_DIR/build.log" 0 build
if [ "$RC" != 0 ]; then
    note "build: FAILED (exit $RC); see $OUT_DIR/build.log"
    tail -n 30 "$OUT_DIR/build.log"
    exit 1
fi
note "build: ok ($BUILD_DIR, $(grep -m1 -o 'framefarm: CUDA=[A-Z]*' "$OUT_DIR/build.log" 2>/dev/null || echo configured))"
FF=$BUILD_DIR/framefarm
BENCH=$BUILD_DIR/bench_gpu_ops

# ---- 2. the GPU -------------------------------------------------------------------------
if [ "$CPU" != 1 ]; then
    echo
    echo "== GPU"
    nvidia-smi --query-gpu=index,name,memory.total,memory.used,clocks.sm,clocks.mem,clocks.max.sm,clocks.max.mem,driver_version,power.limit,pstate \
        --format=csv 2>&1 | tee "$OUT_DIR/nvidia-smi.txt"
    nvidia-smi >>"$OUT_DIR/nvidia-smi.txt" 2>&1
fi
"$FF" doctor >"$OUT_DIR/doctor.txt" 2>&1 || true

# ---- 3. golden cases -----------------------------------------------------------------------
if [ -z "$GOLD" ]; then
    for d in .gold ../shared/golden; do
        if [ -d "$d" ]; then GOLD=$d; break; fi
    done
fi
BACKEND=cuda
[ "$CPU" = 1 ] && BACKEND=cpu
if [ -n "$GOLD" ] && [ -d "$GOLD" ]; then
    if [ -n "${GOLDEN_FILTER:-}" ]; then
        run_step golden "$OUT_DIR/golden.txt" 200 "$FF" golden --backend "$BACKEND" --filter "$GOLDEN_FILTER" "$GOLD"
    else
        run_step golden "$OUT_DIR/golden.txt" 200 "$FF" golden --backend "$BACKEND" "$GOLD"
    fi
    G_SUM=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$OUT_DIR/golden.txt" | tail -n 1)
    note "golden ($GOLD, backend $BACKEND): ${G_SUM:-no summary line} (exit $RC)"
    [ "$RC" != 0 ] && STATUS=1
else
    note "golden: SKIP: no golden folder (${GOLD:-.gold or ../shared/golden} not found); pass one as the first argument"
fi

# ---- 4. the benches ------------------------------------------------------------------------
if [ "$CPU" = 1 ]; then
    run_step bench_gpu_ops "$OUT_DIR/ops-framefarm.txt" 200 "$BENCH" --backend cpu --small --min-ms "$MIN_MS"
else
    run_step bench_gpu_ops "$OUT_DIR/ops-framefarm.txt" 200 "$BENCH" --min-ms "$MIN_MS"
fi
note "bench_gpu_ops: exit $RC, $(grep -c '^OP ' "$OUT_DIR/ops-framefarm.txt") timings, $(grep -c '^SKIP ' "$OUT_DIR/ops-framefarm.txt") skipped/failed"
[ "$RC" != 0 ] && STATUS=1

: >"$OUT_DIR/ops-torch.txt"
if TORCH_ERR=$("$PYTHON" -c "import torch" 2>&1); then
    if [ "$CPU" = 1 ]; then
        run_step gpu_torch "$OUT_DIR/ops-torch.txt" 200 "$PYTHON" bench/gpu_torch.py --device cpu --small --min-ms "$MIN_MS"
    else
        run_step gpu_torch "$OUT_DIR/ops-torch.txt" 200 "$PYTHON" bench/gpu_torch.py --min-ms "$MIN_MS"
    fi
    note "gpu_torch: exit $RC, $(grep -c '^OP ' "$OUT_DIR/ops-torch.txt") timings, $(grep -c '^SKIP ' "$OUT_DIR/ops-torch.txt") skipped/failed ($(head -n 1 "$OUT_DIR/ops-torch.txt" | sed 's/^# gpu_torch: //'))"
    [ "$RC" != 0 ] && STATUS=1
else
    note "gpu_torch: SKIP: '$PYTHON -c \"import torch\"' failed ($(echo "$TORCH_ERR" | tail -n 1)); the torch columns stay empty"
fi

# ---- 6. the table (written now, rewritten after memcheck, printed last) ----------------------
DEV_LINE=$(grep -m1 '^DEVICE ' "$OUT_DIR/ops-framefarm.txt" 2>/dev/null)
NOM_GBPS=$(echo "$DEV_LINE" | sed -n 's/.*mem_GBps=\([0-9.]*\).*/\1/p')
NOM_FP32=$(echo "$DEV_LINE" | sed -n 's/.*fp32_TFLOPs=\([0-9.]*\).*/\1/p')
case "$DEV_NAME" in
*H200*) P_BW=4800 P_FP32=67 P_TF32=495 P_BF16=989 P_SRC="H200 datasheet (dense)" ;;
*H100*PCIe*) P_BW=2000 P_FP32=51 P_TF32=378 P_BF16=756 P_SRC="H100 PCIe datasheet (dense)" ;;
*H100*NVL*) P_BW=3900 P_FP32=60 P_TF32=418 P_BF16=835 P_SRC="H100 NVL datasheet (dense)" ;;
*H100*) P_BW=3350 P_FP32=67 P_TF32=495 P_BF16=989 P_SRC="H100 SXM datasheet (dense)" ;;
*) P_BW=${NOM_GBPS:-0} P_FP32=${NOM_FP32:-0} P_TF32=0 P_BF16=0
   P_SRC="nominal, from the device attributes (no tensor-core peaks)" ;;
esac
P_BW=${PEAK_GBPS:-$P_BW} P_FP32=${PEAK_FP32:-$P_FP32} P_TF32=${PEAK_TF32:-$P_TF32} P_BF16=${PEAK_BF16:-$P_BF16}
[ -n "${PEAK_GBPS:-}${PEAK_FP32:-}${PEAK_TF32:-}${PEAK_BF16:-}" ] && P_SRC="$P_SRC, overridden by PEAK_*"

# merge OP lines (name shape ms gflop gbytes peak) of both files into markdown rows
make_table() {
    awk -v bw="$P_BW" -v fp32="$P_FP32" -v tf32="$P_TF32" -v bf16="$P_BF16" '
    function roof(gf, gb, pk,   tp, tm, tc) {   # roofline ms, and BOUND = mem | compute | ?
        tp = (pk == "tf32") ? tf32 : (pk == "bf16") ? bf16 : fp32
        tm = (bw > 0) ? gb / bw * 1000 : -1
        tc = (tp > 0) ? gf / tp : -1             # GFLOP / (TFLOP/s) = ms
        if ((gf > 0 && tc < 0) || tm < 0) { BOUND = "?"; return -1 }   # a peak is unknown
        if (tc > tm) { BOUND = "compute"; return tc }
        BOUND = "mem"; return tm
    }
    function rate(gf, gb, ms, bound) {
        if (ms <= 0) return "-"
        if (bound == "compute" || (bound == "?" && gf > 0)) return sprintf("%.1f TFLOP/s", gf / ms)
        return sprintf("%.0f GB/s", gb / ms * 1000)
    }
    function pct(r, ms) { return (r > 0 && ms > 0) ? sprintf("%.0f%%", 100 * r / ms) : "-" }
    # row order: framefarm file order; a torch-only row goes after the row torch printed before it
    function add(key, after) {
        if (key in seen) return
        seen[key] = 1; n++
        if (after == "" || !(after in seen)) { if (n == 1) head = key; else nxt[tail] = key; tail = key; return }
        nxt[key] = nxt[after]; nxt[after] = key
        if (tail == after) tail = key
    }
    { file = (FILENAME == ARGV[1]) ? 1 : 2 }
    ($1 == "OP" || $1 == "SKIP") && NF >= 3 {
        key = $2 " " $3
        add(key, file == 2 ? prev2 : "")
        if (file == 2) prev2 = key
    }
    $1 == "OP" && NF >= 7 {
        if (file == 1) ff[key] = $4; else th[key] = $4
        if (!(key in gf)) { gf[key] = $5; gb[key] = $6; pk[key] = $7 }   # framefarm figures first
    }
    $1 == "SKIP" && NF >= 3 {
        if (file == 1 && !(key in ff)) ff[key] = "skip"
        if (file == 2 && !(key in th)) th[key] = "skip"
    }
    END {
        print "| op | shape | framefarm ms | torch ms | ff / torch | framefarm achieved | torch achieved | framefarm % roofline | torch % roofline | bound | peak |"
        print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
        for (k = head; k != ""; k = nxt[k]) {
            split(k, p, " ")
            f = (k in ff) ? ff[k] : "-"; t = (k in th) ? th[k] : "-"
            if (!(k in gf)) { printf "| %s | %s | %s | %s | - | - | - | - | - | - | - |\n", p[1], p[2], f, t; continue }
            r = roof(gf[k], gb[k], pk[k])
            fm = (f ~ /^[0-9.]+$/) ? f + 0 : -1; tm = (t ~ /^[0-9.]+$/) ? t + 0 : -1
            ratio = (fm > 0 && tm > 0) ? sprintf("%.2fx", fm / tm) : "-"
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2],
                (fm > 0 ? sprintf("%.3f", fm) : f), (tm > 0 ? sprintf("%.3f", tm) : t), ratio,
                (fm > 0 ? rate(gf[k], gb[k], fm, BOUND) : "-"), (tm > 0 ? rate(gf[k], gb[k], tm, BOUND) : "-"),
                pct(r, fm), pct(r, tm), BOUND, pk[k]
        }
    }' "$OUT_DIR/ops-framefarm.txt" "$OUT_DIR/ops-torch.txt"
}

write_table() {
    {
        echo "# framefarm CUDA backend vs PyTorch on ${DEV_NAME:-unknown}"
        echo
        echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)," \
            "bench/gpu.sh (total $(($(date +%s) - T_START)) s so far)."
        sed -n 's/^# \([0-9]*: .*\)/Device: \1/p' "$OUT_DIR/ops-framefarm.txt" | head -n 1
        echo "Peaks: HBM ${P_BW} GB/s, FP32 ${P_FP32} TFLOP/s, TF32 ${P_TF32}, BF16 ${P_BF16} TFLOP/s ($P_SRC)."
        [ -n "$NOM_GBPS" ] && echo "bench_gpu_ops nominal figures: ${NOM_GBPS} GB/s (memoryClockRate x 2 x busWidth), FP32 ${NOM_FP32} TFLOP/s."
        echo
        sed 's/^/- /' "$SUMMARY"
        echo
        make_table
        echo
        echo "ms: mean per call (framefarm: ff_be_sync + CLOCK_MONOTONIC around N calls; torch: CUDA events)."
        echo "ff / torch > 1: framefarm slower. % roofline: max(GB / HBM bandwidth, GFLOP / peak) over the"
        echo "measured time, the peak being the row's (fp32: CUDA cores; tf32 / bf16: tensor cores, dense)."
        echo "GB: minimal traffic (inputs read once, outputs written once; dit_block: its weights only)."
        echo "Rows named *_tf32 / *_bf16 are torch only, for context; framefarm's path is F32 throughout."
        echo "dit_block: one WanTransformerBlock at 1.3B width (random weights), 32760 tokens (480x832,"
        echo "81 frames), 512 text tokens; dit_forward_1layer: framefarm's whole forward with 1 block."
    } >"$OUT_DIR/gpu-table.md"
}
write_table

# ---- 5. memcheck (optional) -------------------------------------------------------------------
if [ "${MEMCHECK:-0}" = 1 ]; then
    SAN=$(command -v compute-sanitizer 2>/dev/null)
    [ -z "$SAN" ] && [ -x /usr/local/cuda/bin/compute-sanitizer ] && SAN=/usr/local/cuda/bin/compute-sanitizer
    if [ "$CPU" = 1 ]; then
        note "memcheck: SKIP (BENCH_CPU=1)"
    elif [ -z "$SAN" ]; then
        note "memcheck: SKIP: compute-sanitizer not found (PATH, /usr/local/cuda/bin)"
    elif [ -z "$GOLD" ] || [ ! -d "$GOLD" ]; then
        note "memcheck: SKIP: no golden folder"
    else
        for f in $(echo "${MEMCHECK_CASES:-transformer_f1_t999,vae_decode_f1}" | tr ',' ' '); do
            run_step "memcheck $f" "$OUT_DIR/memcheck-$f.txt" 120 \
                "$SAN" --tool memcheck "$FF" golden --backend cuda --filter "$f" "$GOLD"
            M_SUM=$(grep -o 'ERROR SUMMARY: [0-9]* error[s]*' "$OUT_DIR/memcheck-$f.txt" | tail -n 1)
            G_SUM=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$OUT_DIR/memcheck-$f.txt" | tail -n 1)
            note "memcheck --filter $f: ${M_SUM:-no ERROR SUMMARY line} (golden: ${G_SUM:-no summary}, exit $RC)"
            case "$M_SUM" in "ERROR SUMMARY: 0 error"*) ;; *) STATUS=1 ;; esac
            [ "$RC" != 0 ] && STATUS=1
        done
    fi
    write_table
fi

# ---- 7. the speed table (optional) -----------------------------------------------------------
if [ "${SPEED:-0}" = 1 ]; then
    # shellcheck disable=SC2317
    speed() {
        FF="$FF" SPEED_BIN="$BUILD_DIR/bench_gpu_speed" PYTHON="$PYTHON" DEADLINE="$DEADLINE" \
            RESULTS_DIR="$ROOT/bench/results" SMALL="$CPU" sh bench/gpu_speed.sh "${SPEED_MODEL:-/tmp/ff_wan13b}" \
            "$OUT_DIR/speed"
    }
    run_step speed "$OUT_DIR/speed.log" 0 speed
    note "speed table: exit $RC ($OUT_DIR/speed/gpu_speed.md)"
    [ "$RC" != 0 ] && STATUS=1
fi

echo
echo "== bench/gpu.sh done in $(($(date +%s) - T_START)) s; logs and gpu-table.md in $OUT_DIR"
echo
cat "$OUT_DIR/gpu-table.md"
exit $STATUS
