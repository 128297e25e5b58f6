# mpirun -np 1/2 framefarm mpi on the embedded tiny HunyuanVideo model
# (init-model tiny-hunyuanvideo; 33 frames = 9 latent frames, overlap 2):
#  - np 1 writes the same .y4m as `framefarm render` (cmp): every rank
#    encodes the prompt itself (HunyuanVideo takes no given embeddings: the
#    Llama mask and the pooled CLIP embedding go with them), the VAE decodes
#    with its framewise default;
#  - --vae-split time on 2 ranks: windows co-denoised with the per-step
#    merge, each rank decoding its window after a warm-up; frames outside
#    the overlaps match np 1 within PSNR >= 20 dB (HunyuanVideo's VAE is not
#    frame-causal: GroupNorm statistics and the mid-block attention span
#    the decoded frames, so a window's decode differs from the whole one
#    even with the whole history as warm-up; measured 28.7 .. 32.6 dB);
#  - --vae-split space is refused (no space-split decode for this VAE),
#    naming --vae-split time.
. "$(dirname "$0")/mpi_env.inc"
[ -n "$VC" ] || fail "FF_VCOMPARE (tests/cluster/vcompare.c) is not set"
"$FF" init-model tiny-hunyuanvideo "$T/hy" >/dev/null || fail "init-model"
cat >"$T/job.json" <<JOB
{"model": "$T/hy", "prompt": "a red boat on a misty lake", "seed": 7, "frames": 33, "height": 32, "width": 48,
 "steps": 3, "max_sequence_length": 24, "out": "$T/unused.y4m"}
JOB
"$FF" render --model "$T/hy" --prompt "a red boat on a misty lake" --seed 7 --frames 33 --height 32 --width 48 \
  --steps 3 --max-sequence-length 24 --threads 1 --out "$T/render.y4m" >"$T/render.log" 2>&1 || { cat "$T/render.log"; fail "render"; }
run_mpi 1 "$T/job.json" --out "$T/np1.y4m" --save-video "$T/np1.st" >"$T/np1.log" 2>&1 || { cat "$T/np1.log"; fail "np 1"; }
cmp "$T/render.y4m" "$T/np1.y4m" || fail "np 1 differs from framefarm render"
echo "np 1: bit-identical to framefarm render"
run_mpi 2 "$T/job.json" --vae-warmup 9 --out "$T/np2.y4m" --save-video "$T/np2.st" >"$T/np2.log" 2>&1 \
  || { cat "$T/np2.log"; fail "np 2 time"; }
echo "np 2, VAE split time, warm-up 9: frames vs np 1 (PSNR >= 20 dB outside the overlaps)"
"$VC" "$T/np1.st" "$T/np2.st" --plan 9 2 2 --min-psnr 20 || fail "np 2: beyond tolerance"
if run_mpi 2 "$T/job.json" --vae-split space --out "$T/sp.y4m" >"$T/sp.log" 2>&1; then fail "space split accepted"; fi
grep -q "no space-split decode" "$T/sp.log" || { cat "$T/sp.log"; fail "space split refusal not explained"; }
echo "np 2, VAE split space: refused (no space-split decode for AutoencoderKLHunyuanVideo)"
echo "PASS"
