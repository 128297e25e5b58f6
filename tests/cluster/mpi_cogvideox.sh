# mpirun -np 1/2 framefarm mpi on the embedded tiny CogVideoX model (25
# frames = 7 latent frames, (B, F, C, h, w) latents split along F, overlap 2):
#  - np 1 writes the same .y4m as `framefarm render` (cmp);
#  - np 2 (time split: windows [0, 3) and [1, 7) merged every step, decoded
#    with warm-up) writes all 25 frames; its distance to np 1 is printed, not
#    bounded: CogVideoX attends over all frames of a window at once with
#    positions that restart per window, so windows change the video far more
#    than Wan's (measured on this random tiny model: 20 dB on frame 0, 7 dB at
#    the end; see README);
#  - refused with the reason: --vae-split space (the CogVideoX VAE has no
#    space-split decode), and frame counts whose latents do not decode to
#    1 + 4 (n - 1) frames (13 frames = 4 latent frames, which decode to 16).
. "$(dirname "$0")/mpi_env.inc"
"$FF" init-model tiny-cogvideox "$T/tc" >/dev/null || fail "init-model"
cat >"$T/job.json" <<JOB
{"model": "$T/tc", "prompt": "a red boat on a misty lake", "seed": 7, "frames": 25, "out": "$T/unused.y4m"}
JOB
"$FF" render --model "$T/tc" --prompt "a red boat on a misty lake" --seed 7 --frames 25 --out "$T/render.y4m" \
  >"$T/render.log" 2>&1 || { cat "$T/render.log"; fail "render"; }
run_mpi 1 "$T/job.json" --out "$T/np1.y4m" --save-video "$T/np1.st" >"$T/np1.log" 2>&1 || { cat "$T/np1.log"; fail "np 1"; }
cmp "$T/render.y4m" "$T/np1.y4m" || fail "np 1 differs from framefarm render"
echo "np 1: bit-identical to framefarm render"
run_mpi 2 "$T/job.json" --out "$T/np2.y4m" --save-video "$T/np2.st" >"$T/np2.log" 2>&1 || { cat "$T/np2.log"; fail "np 2"; }
grep -q "wrote $T/np2.y4m (25 frames" "$T/np2.log" || { cat "$T/np2.log"; fail "np 2: want 25 frames written"; }
[ "$(grep -a -o FRAME "$T/np2.y4m" | wc -l | tr -d ' ')" = 25 ] || fail "np 2: the y4m does not hold 25 frames"
if [ -n "$VC" ]; then "$VC" "$T/np1.st" "$T/np2.st" --plan 7 2 2 | tail -1; fi
echo "np 2, VAE split time: 25 frames"
run_mpi 2 "$T/job.json" --vae-split space --out "$T/space.y4m" >"$T/space.log" 2>&1 && fail "space split was not refused"
grep -q "no space-split decode" "$T/space.log" || { cat "$T/space.log"; fail "space split: no reason given"; }
echo "np 2, VAE split space: refused (the CogVideoX VAE has no space-split decode)"
sed 's/"frames": 25/"frames": 13/' "$T/job.json" >"$T/even.json"
run_mpi 1 "$T/even.json" --out "$T/even.y4m" >"$T/even.log" 2>&1 && fail "4 latent frames were not refused"
grep -q "odd number of latent frames" "$T/even.log" || { cat "$T/even.log"; fail "4 latent frames: no reason given"; }
echo "13 frames (4 latent frames, decoded to 16): refused"
echo "PASS"
