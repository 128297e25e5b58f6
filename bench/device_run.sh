#!/bin/sh
# bench/device_run.sh: the one device check of the CUDA backend (issue 14), for
# the lent GPU machine, within about 9 minutes.
#
# Prepare HERE first (builds, Open MPI, golden subset, peer; bench/README.md):
#     sh bench/device_prepare.sh
# then, with the device tool, in one call:
#     run(command="sh bench/device_run.sh", carry=[".device/carry"], timeout_s=600)
# and copy what comes back ($OUT: summary.txt, gpu_speed.json, gpu_speed.md,
# logs.tar.gz) into bench/results/ (gpu_speed.json and .md as they are).
#
# Steps (STEPS="setup tests golden speed nccl memcheck" by default, run in
# that order; each one bounded by its own limit and by the whole run's budget
# BUDGET_S, 540 s). Should the budget cut the last ones, a second call
# runs them: STEPS="setup nccl memcheck" sh bench/device_run.sh (setup is
# cheap: it only unpacks when the binaries run).
#   setup     unpack .device/carry into /tmp/ffdev; find the CUDA, cuDNN and
#             NCCL libraries (the CUDA toolkit, else torch's nvidia-* wheels);
#             if the carried binaries do not start here, build them on the
#             device (cmake, sm_90, minimal) instead
#   tests     kernels_test_flash_cuda (flash attention, linear_act, fused ops,
#             cuDNN convs, split group norm vs the CPU), kernels_test_ops_cuda
#             (every op, F32), kernels_test_ops_bf16 (BF16 GEMMs, TF32 / BF16
#             convs), kernels_test_fused_ops and kernels_test_cuda_host (the
#             CPU references and host planning, as built for the device)
#   golden    framefarm golden --backend cuda over every family's cases (F32: every case at its own
#             tolerance) and --precision bf16 (max(case, 1e-2))
#   memcheck  compute-sanitizer --tool memcheck on short golden runs: the
#             BF16 transformer (flash attention, fused ops, cuBLASLt), the BF16
#             VAE decode (cuDNN convs, group norm), the F32 transformer
#   nccl      mpirun -np 1 framefarm-mpi mpi --comm nccl --backend cuda:0 on the
#             tiny model, against framefarm render on cuda:0: identical bytes
#   speed     bench/gpu_speed.sh: the issue's table (gpu_speed.json / .md)
# Prints a summary last (the reply carries the tail of the output); writes
# $OUT/summary.txt, $OUT/gpu_speed.json, $OUT/gpu_speed.md, $OUT/logs.tar.gz.
# Exit 0 when every step that ran passed.
set -u
T0=$(date +%s)
BUDGET_S=${BUDGET_S:-540}
DEADLINE=$((T0 + BUDGET_S))
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
OUT=${OUT:-$ROOT/bench/out}
mkdir -p "$OUT"
W=${FFDEV:-/tmp/ffdev}
L=$W/logs
mkdir -p "$W" "$L"
STEPS=${STEPS:-setup tests golden speed nccl memcheck}
SUMMARY=$L/summary.txt
: >"$SUMMARY"
STATUS=0
note() { echo "$*" | tee -a "$SUMMARY"; }
has() { case " $STEPS " in *" $1 "*) return 0 ;; esac; return 1; }
left() { echo $((DEADLINE - $(date +%s))); }

# run NAME LIMIT CMD...: bounded by LIMIT and the deadline; log in $L/NAME.log; sets RC
run() {
    _n=$1 _l=$2
    shift 2
    _left=$(($(left) - 5))
    [ "$_left" -lt "$_l" ] && _l=$_left
    if [ "$_l" -lt 15 ]; then
        note "SKIP $_n: the time budget (BUDGET_S=$BUDGET_S) is spent"
        RC=125
        return
    fi
    _t0=$(date +%s)
    timeout "$_l" "$@" >"$L/$_n.log" 2>&1
    RC=$?
    _dt=$(($(date +%s) - _t0))
    _last=$(grep -E '([0-9]+ tests, [0-9]+ checks|passed, [0-9]+ failed|ERROR SUMMARY|^SKIP|^PASS$|^FAIL)' "$L/$_n.log" |
        tail -n 1)
    [ "$RC" = 124 ] && _last="killed at its ${_l} s limit. $_last"
    note "$(printf '%-28s exit %3s %4ss  %s' "$_n" "$RC" "$_dt" "$_last")"
    if [ "$RC" != 0 ] && [ "$RC" != 77 ]; then
        STATUS=1
        grep -vE '^(ok |PASS |  )' "$L/$_n.log" | tail -n 12 | sed 's/^/    /'
    fi
}

finish() {
    note "total $(($(date +%s) - T0)) s of budget $BUDGET_S s"
    cp "$SUMMARY" "$OUT/summary.txt"
    for f in gpu_speed.json gpu_speed.md; do [ -f "$W/speed/$f" ] && cp "$W/speed/$f" "$OUT/"; done
    # shellcheck disable=SC2046 # the speed logs, when there are any
    tar -C "$W" -czf "$OUT/logs.tar.gz" logs $(cd "$W" && ls speed/*.txt speed/*.log 2>/dev/null) 2>/dev/null
    echo
    echo "==== summary"
    cat "$SUMMARY"
    [ -f "$OUT/gpu_speed.md" ] && sed -n '1,16p' "$OUT/gpu_speed.md"
    exit $STATUS
}

note "bench/device_run.sh $(date -u '+%Y-%m-%d %H:%M UTC'), tree $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader 2>&1 |
    head -n 1 | sed 's/^/gpu: /' | tee -a "$SUMMARY"

# ---- setup ---------------------------------------------------------------------------
C=$ROOT/.device/carry
[ -f "$C/SOURCE" ] && note "carried: $(head -n 1 "$C/SOURCE")"
for a in bin openmpi gold configs; do
    [ -f "$C/$a.tar.xz" ] && tar -C "$W" -xJf "$C/$a.tar.xz"
done
mkdir -p "$W/peer" && [ -f "$C/peer.tar.gz" ] && tar -C "$W/peer" -xzf "$C/peer.tar.gz"
PEER=$(ls -d "$W"/peer/*/src 2>/dev/null | head -n 1)
# libraries: the toolkit's, else the ones torch ships (nvidia-* wheels)
LIBS=/usr/local/cuda/lib64:/usr/local/cuda/lib
WHEELS=$(python3 -c "import site, glob; print(':'.join(sorted(set(d for s in site.getsitepackages() for d in glob.glob(s + '/nvidia/*/lib')))))" 2>/dev/null)
ORIG_LD=${LD_LIBRARY_PATH:-}
export LD_LIBRARY_PATH="$LIBS${WHEELS:+:$WHEELS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export XDG_CACHE_HOME=$W/xdg
BIN=$W/bin
if has setup; then
    if ! "$BIN/framefarm" doctor >"$L/doctor.log" 2>&1 || ! "$BIN/kernels_test_cuda_host" >/dev/null 2>&1; then
        note "carried binaries do not run here ($(grep -m1 -iE 'error|not found' "$L/doctor.log" || echo missing)): building on the device"
        run build 300 sh -c "cmake -S . -B $W/build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRAMEFARM_CUDA=ON \
            -DFRAMEFARM_FARM=OFF -DCMAKE_CUDA_ARCHITECTURES=90 -DFRAMEFARM_WERROR=OFF -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON \
            && cmake --build $W/build -j\$(nproc) --target framefarm bench_gpu_speed bench_gpu_ops kernels_test_flash_cuda \
               kernels_test_ops_cuda kernels_test_ops_bf16 kernels_test_ops_async kernels_test_fused_ops \
               kernels_test_cuda_host offload_test_stream_dit"
        mkdir -p "$BIN"
        cp "$W/build/framefarm" "$W/build/bench_gpu_speed" "$W/build/bench_gpu_ops" "$BIN/" 2>/dev/null
        cp "$W"/build/tests/kernels_test_* "$W"/build/tests/offload_test_stream_dit "$BIN/" 2>/dev/null
        "$BIN/framefarm" doctor >"$L/doctor.log" 2>&1 || { note "FAIL: no working framefarm"; STATUS=1; finish; }
    fi
    note "framefarm: $(grep -m1 -E '^ *cuda ' "$L/doctor.log" | sed 's/^ *//')"
fi

# ---- tests -------------------------------------------------------------------------------
if has tests; then
    export FF_GOLDEN=$W/gold
    for t in kernels_test_flash_cuda kernels_test_ops_cuda kernels_test_ops_bf16 kernels_test_fused_ops \
        kernels_test_cuda_host; do
        [ -x "$BIN/$t" ] && run "$t" 150 "$BIN/$t"
    done
    grep -E '^(cuda:0 against|  cuda:0 +attention|  attention|  linear_act|  conv3d|  group_norm|  cuda:0: )' \
        "$L/kernels_test_flash_cuda.log" 2>/dev/null | head -n 40 >"$L/flash-figures.txt"
fi

# ---- golden --------------------------------------------------------------------------------
if has golden; then
    run golden_f32 200 "$BIN/framefarm" golden --backend cuda "$W/gold"
    run golden_bf16 200 "$BIN/framefarm" golden --backend cuda --precision bf16 "$W/gold"
    grep -E '^FAIL' "$L/golden_bf16.log" | head -n 8 | sed 's/^/    bf16 /' | tee -a "$SUMMARY"
fi

# ---- the speed table ------------------------------------------------------------------------------
if has speed; then
    SP=$W/speed && mkdir -p "$SP"
    SL=$(($(left) - 150)) # leave the mpirun and memcheck steps their time, unless the table would get under 4 min
    [ "$SL" -lt 240 ] && SL=$(($(left) - 10))
    run speed "$SL" env FF="$BIN/framefarm" SPEED_BIN="$BIN/bench_gpu_speed" PYTHON=python3 PEER="$PEER" \
        PY_LD="$ORIG_LD" \
        CONFIGS="$W/wan2.1-t2v-1.3b" DEADLINE=$(($(date +%s) + SL - 5)) \
        sh bench/gpu_speed.sh /tmp/ff_wan13b "$SP"
    grep -E '^\| ' "$SP/gpu_speed.md" 2>/dev/null | tee -a "$SUMMARY" >/dev/null
fi
# ---- mpirun with NCCL -----------------------------------------------------------------------
if has nccl; then
    OM=$W/openmpi/usr
    if [ ! -x "$BIN/framefarm-mpi" ] || [ ! -x "$OM/bin/mpirun.openmpi" ]; then
        note "SKIP nccl: no framefarm-mpi or Open MPI in the carried files"
    else
        export OPAL_PREFIX=$OM
        MPILIB=$OM/lib/x86_64-linux-gnu
        T=$W/nccl && mkdir -p "$T"
        "$BIN/framefarm" init-model tiny "$T/tiny" >/dev/null 2>&1
        printf '{"model": "%s", "prompt": "a red boat on a misty lake", "seed": 7, "frames": 17, "out": "%s/unused.y4m"}\n' \
            "$T/tiny" "$T" >"$T/job.json"
        run nccl_render 120 "$BIN/framefarm" render --model "$T/tiny" --backend cuda:0 --prompt "a red boat on a misty lake" \
            --seed 7 --frames 17 --out "$T/render.y4m"
        run nccl_mpirun 150 env PATH="$OM/bin:$PATH" LD_LIBRARY_PATH="$MPILIB:$MPILIB/openmpi/lib:$LD_LIBRARY_PATH" \
            OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false \
            OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_pml=ob1 \
            OMPI_MCA_mtl=^ofi,psm,psm2 OMPI_MCA_osc=^ucx OMPI_MCA_orte_abort_print_stack=0 \
            "$OM/bin/mpirun.openmpi" --allow-run-as-root -np 1 "$BIN/framefarm-mpi" mpi --comm nccl --backend cuda:0 \
            --out "$T/np1.y4m" "$T/job.json"
        grep -iE 'nccl|comm' "$L/nccl_mpirun.log" | head -n 3 | sed 's/^/    /' | tee -a "$SUMMARY"
        if [ -f "$T/render.y4m" ] && [ -f "$T/np1.y4m" ] && cmp "$T/render.y4m" "$T/np1.y4m" >/dev/null; then
            note "nccl_cmp                     PASS: mpirun -np 1 --comm nccl wrote the same bytes as render on cuda:0"
        else
            note "nccl_cmp                     FAIL: the np 1 video differs from render's (or one is missing)"
            STATUS=1
        fi
    fi
fi

# ---- memcheck -------------------------------------------------------------------------------
if has memcheck; then
    SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
    if [ -z "$SAN" ]; then
        note "SKIP memcheck: compute-sanitizer not found"
    else
        run memcheck_bf16_transformer 150 "$SAN" --tool memcheck --error-exitcode 9 "$BIN/framefarm" golden \
            --backend cuda --precision bf16 --filter transformer_f1_t999 "$W/gold"
        run memcheck_bf16_vae 150 "$SAN" --tool memcheck --error-exitcode 9 "$BIN/framefarm" golden \
            --backend cuda --precision bf16 --filter vae_decode_f1 "$W/gold"
        run memcheck_f32_transformer 120 "$SAN" --tool memcheck --error-exitcode 9 "$BIN/framefarm" golden \
            --backend cuda --filter transformer_f1_t999 "$W/gold"
    fi
fi

finish
