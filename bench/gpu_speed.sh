#!/bin/sh
# bench/gpu_speed.sh MODEL_DIR OUT_DIR: the GPU speed table of issue 14,
# framefarm against diffusers' real modules in torch, on one GPU, in one run.
#
#  1. bench/gpu_torch.py --make-model MODEL_DIR: a Wan2.1-T2V-1.3B pipeline
#     folder (CONFIGS: ../shared/configs/wan2.1-t2v-1.3b) with random weights
#     (transformer bf16, VAE float32, UMT5 bf16 when the render row runs);
#     skipped when MODEL_DIR/transformer already exists;
#  2. bench/gpu_torch.py --speed: torch's rows (SDPA: the fastest backend;
#     the transformer in bf16; the VAE in float32 with torch's default TF32
#     convolutions; the text encoder in bf16);
#  3. bench_gpu_speed --model MODEL_DIR: framefarm's rows (--precision bf16);
#  4. with RENDER=1 (default): framefarm render --precision bf16 of that model,
#     480x832, 81 frames, 5 steps, guidance 5 (CFG: 10 transformer forwards),
#     VAE untiled, --stats: framefarm_ms = the sum of the components' run
#     times (no loading); torch_ms = 2 x text_encoder_umt5_bf16 + 10 x
#     dit_forward_1.3b_480p_bf16 + vae_decode_480p_81f (diffusers encodes the
#     prompt and the negative prompt separately and runs the transformer once
#     per branch);
#  5. writes OUT_DIR/gpu_speed.json
#       {"date", "commit", "device", "rows": [{"name", "shape", "framefarm_ms", "torch_ms"}]}
#     and OUT_DIR/gpu_speed.md (the table, with framefarm / torch), and copies
#     both to RESULTS_DIR when it is set (bench/results/ in the tree).
# Every step is bounded (timeout) and skipped past DEADLINE (epoch seconds);
# a row that did not run has null for its side.
# Env: FF (framefarm), SPEED_BIN (bench_gpu_speed), PYTHON (python3 with torch),
#   PEER (diffusers src/), CONFIGS, TINY (a tiny model folder: tokenizer/),
#   REPS (5), RENDER (1), SMALL (0: 1 runs both sides at tiny shapes on the CPU,
#   a check of this script), RESULTS_DIR, DEADLINE, PY_LD (when set, python
#   runs with this LD_LIBRARY_PATH: torch's own CUDA libraries, not the ones
#   found for framefarm).
set -u
MODEL=${1:?usage: gpu_speed.sh MODEL_DIR OUT_DIR}
OUTD=${2:?usage: gpu_speed.sh MODEL_DIR OUT_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FF=${FF:-$ROOT/build/framefarm}
SPEED_BIN=${SPEED_BIN:-$ROOT/build/bench_gpu_speed}
PYTHON=${PYTHON:-python3}
CONFIGS=${CONFIGS:-$ROOT/../shared/configs/wan2.1-t2v-1.3b}
REPS=${REPS:-5}
RENDER=${RENDER:-1}
SMALL=${SMALL:-0}
DEADLINE=${DEADLINE:-$(($(date +%s) + 3600))}
mkdir -p "$OUTD"
if [ -n "${PY_LD+set}" ]; then PY="env LD_LIBRARY_PATH=$PY_LD $PYTHON"; else PY=$PYTHON; fi
PEER_ARG=""
[ -n "${PEER:-}" ] && PEER_ARG="--peer $PEER"
DEV=cuda
SMALL_ARG=""
if [ "$SMALL" = 1 ]; then DEV=cpu; SMALL_ARG="--small"; fi

# step NAME LIMIT_S LOG CMD...: bounded by LIMIT_S and by DEADLINE; its output in LOG
step() {
    _n=$1 _l=$2 _log=$3
    shift 3
    _left=$((DEADLINE - $(date +%s) - 5))
    [ "$_left" -lt "$_l" ] && _l=$_left
    if [ "$_l" -lt 20 ]; then
        echo "== $_n: SKIP (time budget spent)" | tee "$_log"
        return 125
    fi
    echo "== $_n (limit ${_l} s): $*"
    _t0=$(date +%s)
    timeout "$_l" "$@" >"$_log" 2>&1
    _rc=$?
    echo "== $_n: exit $_rc in $(($(date +%s) - _t0)) s"
    grep -E '^(SPEED|SKIP|INFO|#)' "$_log" | head -n 40
    return $_rc
}

if [ -z "${TINY:-}" ]; then
    TINY=$OUTD/.tiny
    "$FF" init-model tiny "$TINY" --force >/dev/null 2>&1 || echo "init-model tiny failed: the model gets no tokenizer"
fi
TE_ARG=""
[ "$RENDER" = 1 ] && TE_ARG="--text-encoder"
if [ ! -d "$MODEL/transformer" ] || { [ "$RENDER" = 1 ] && [ ! -d "$MODEL/text_encoder" ]; }; then
    # shellcheck disable=SC2086
    step make-model 300 "$OUTD/make-model.log" $PY "$ROOT/bench/gpu_torch.py" --device $DEV --make-model "$MODEL" \
        --configs "$CONFIGS" --tokenizer-from "$TINY" $TE_ARG $PEER_ARG
    tail -n 5 "$OUTD/make-model.log"
fi
# shellcheck disable=SC2086
step torch 300 "$OUTD/speed-torch.txt" env PYTHONUNBUFFERED=1 $PY "$ROOT/bench/gpu_torch.py" --device $DEV \
    --speed "$MODEL" --reps "$REPS" $PEER_ARG $SMALL_ARG
# shellcheck disable=SC2086
step framefarm 300 "$OUTD/speed-framefarm.txt" "$SPEED_BIN" --backend $DEV --model "$MODEL" --reps "$REPS" $SMALL_ARG
if [ "$RENDER" = 1 ]; then
    if [ "$SMALL" = 1 ]; then geo="--frames 5 --height 64 --width 64"; else geo="--frames 81 --height 480 --width 832"; fi
    # shellcheck disable=SC2086
    step render 300 "$OUTD/render.txt" "$FF" render --model "$MODEL" --backend $DEV --precision bf16 \
        --prompt "a red boat on a misty lake at dawn" --seed 0 --steps 5 --guidance 5 $geo --no-tile --stats \
        --out "${TMPDIR:-/tmp}/ff_speed_render.y4m"
    tail -n 6 "$OUTD/render.txt"
    rm -f "${TMPDIR:-/tmp}/ff_speed_render.y4m"
fi

# ---- the table -----------------------------------------------------------------------
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DEVICE=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
[ -n "$DEVICE" ] || DEVICE=$DEV
$PY - "$OUTD" "$COMMIT" "$DEVICE" "$SMALL" <<'PY'
import datetime, json, os, re, sys
outd, commit, device, small = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
def rows(path):
    r = {}
    if os.path.exists(path):
        for line in open(path, errors="replace"):
            p = line.split()
            if len(p) >= 4 and p[0] == "SPEED":
                r[p[1]] = (p[2], float(p[3]))
    return r
ff, th = rows(os.path.join(outd, "speed-framefarm.txt")), rows(os.path.join(outd, "speed-torch.txt"))
names = ["sdpa_self_bf16", "sdpa_cross_bf16", "dit_block_bf16", "dit_forward_1.3b_480p_bf16", "vae_decode_480p_81f"]
out = []
for n in names:
    shape = (ff.get(n) or th.get(n) or ("-", None))[0]
    out.append({"name": n, "shape": shape, "framefarm_ms": ff[n][1] if n in ff else None,
                "torch_ms": th[n][1] if n in th else None})
# render: framefarm's component run times against the sum of torch's per-component times
rt, total = None, None
rpath = os.path.join(outd, "render.txt")
if os.path.exists(rpath):
    comp = {}
    for line in open(rpath, errors="replace"):
        m = re.match(r"^(text_encoder|transformer|vae)\s+([0-9.]+)\s+([0-9.]+)", line)
        if m:
            comp[m.group(1)] = float(m.group(3))
        m = re.match(r"^total ([0-9.]+) s", line)
        if m:
            total = float(m.group(1))
    if len(comp) == 3:
        rt = 1e3 * sum(comp.values())
tt = None
need = ["text_encoder_umt5_bf16", "dit_forward_1.3b_480p_bf16", "vae_decode_480p_81f"]
if all(k in th for k in need):
    tt = 2 * th[need[0]][1] + 10 * th[need[1]][1] + th[need[2]][1]
geo = "5 steps x 2 (CFG), 5f 64x64" if small else "5 steps x 2 (CFG), 81f 480x832"
out.append({"name": "render_1.3b_480p_81f_5steps", "shape": geo, "framefarm_ms": rt, "torch_ms": tt})
doc = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "commit": commit,
       "device": device, "rows": out}
json.dump(doc, open(os.path.join(outd, "gpu_speed.json"), "w"), indent=1)
with open(os.path.join(outd, "gpu_speed.md"), "w") as f:
    f.write(f"# GPU speed: framefarm (--precision bf16) vs torch + diffusers, {device}\n\n")
    f.write(f"{doc['date']}, commit {commit}, bench/gpu_speed.sh" + (" (SMALL=1: CPU, tiny shapes: not a measurement)" if small else "") + ".\n\n")
    f.write("| row | shape | framefarm ms | torch ms | framefarm / torch |\n| --- | --- | ---: | ---: | ---: |\n")
    for r in out:
        a, b = r["framefarm_ms"], r["torch_ms"]
        fa = "-" if a is None else f"{a:.3f}"
        fb = "-" if b is None else f"{b:.3f}"
        ratio = "-" if a is None or b is None or b <= 0 else f"{a / b:.2f}"
        f.write(f"| {r['name']} | {r['shape']} | {fa} | {fb} | {ratio} |\n")
    f.write("\nframefarm: kernels/ops.h BF16 precision (flash attention and GEMMs on BF16 tensor cores, F32 norms /"
            " modulation / residual, TF32 cuDNN convolutions in the VAE). torch: diffusers 58eb52c0's"
            " WanTransformer3DModel in bf16, AutoencoderKLWan in float32 (torch's default TF32 convolutions),"
            " UMT5EncoderModel in bf16, F.scaled_dot_product_attention's fastest backend. Same random weights"
            " (bench/gpu_torch.py --make-model). Medians of timed runs after warm-ups; the VAE rows one timed"
            " decode after a 3-frame warm-up. render: framefarm = text encoder + transformer + VAE run times of"
            " `framefarm render --stats` (loading excluded"
            + (f"; the whole command took {total:.1f} s" if total else "") + "); torch = 2 x text encoder + 10 x"
            " transformer forward + VAE decode.\n")
    for path, label in ((os.path.join(outd, "speed-torch.txt"), "torch"), (os.path.join(outd, "speed-framefarm.txt"), "framefarm")):
        if os.path.exists(path):
            notes = [l.rstrip() for l in open(path, errors="replace") if "#" in l and l.startswith("SPEED") or l.startswith("INFO")]
            if notes:
                f.write(f"\n{label} notes:\n\n" + "".join(f"    {n}\n" for n in notes))
print(open(os.path.join(outd, "gpu_speed.md")).read())
PY
if [ -n "${RESULTS_DIR:-}" ]; then
    mkdir -p "$RESULTS_DIR" && cp "$OUTD/gpu_speed.json" "$OUTD/gpu_speed.md" "$RESULTS_DIR/"
fi
