# mpirun -np 1/2/4 framefarm mpi on the tiny model (49 frames = 13 latent
# frames, overlap 2):
#  - np 1 writes the same .y4m as `framefarm render` (cmp), with either VAE split;
#  - --vae-split space on 2 and 4 ranks decodes bit-identically to the
#    single-process tiled decode of the same latents with the same tile grid
#    (framefarm vae decode --tile-size 64 --tile-stride 48: the tiny model's
#    default; cmp of the float videos);
#  - --vae-split time on 2 and 4 ranks: frames outside the window overlaps
#    match np 1 within stated tolerances, per frame PSNR / max |diff| printed:
#      warm-up 13 (the whole history: exact decode, only the windowed
#      denoise differs): PSNR >= 45 dB and max |diff| <= 0.1 (measured
#      53.4 dB / 0.037 on 2 ranks, 51.2 dB / 0.051 on 4);
#      default warm-up 4: PSNR >= 20 dB (measured 53.4 dB on 2 ranks, where
#      the warm-up reaches frame 0, and 23.5 dB on 4: the tiny model's random
#      VAE forgets its causal history slowly).
. "$(dirname "$0")/mpi_env.inc"
[ -n "$VC" ] || fail "FF_VCOMPARE (tests/cluster/vcompare.c) is not set"
"$FF" init-model tiny "$T/tiny" >/dev/null || fail "init-model"
cat >"$T/job.json" <<JOB
{"model": "$T/tiny", "prompt": "a red boat on a misty lake", "seed": 7, "frames": 49, "out": "$T/unused.y4m"}
JOB

"$FF" render --model "$T/tiny" --prompt "a red boat on a misty lake" --seed 7 --frames 49 --out "$T/render.y4m" \
  >"$T/render.log" 2>&1 || { cat "$T/render.log"; fail "render"; }
for split in time space; do
  run_mpi 1 "$T/job.json" --vae-split $split --out "$T/np1_$split.y4m" --save-video "$T/np1_$split.st" \
    >"$T/np1_$split.log" 2>&1 || { cat "$T/np1_$split.log"; fail "np 1 ($split)"; }
  cmp "$T/render.y4m" "$T/np1_$split.y4m" || fail "np 1 ($split) differs from framefarm render"
  echo "np 1, VAE split $split: bit-identical to framefarm render"
done

for np in 2 4; do
  run_mpi $np "$T/job.json" --vae-split space --out "$T/space$np.y4m" --save-video "$T/space$np.st" \
    --save-latents "$T/lat$np.st" >"$T/space$np.log" 2>&1 || { cat "$T/space$np.log"; fail "np $np space"; }
  grep -q "VAE tiles" "$T/space$np.log" || fail "np $np: no tile assignment printed"
  "$FF" vae decode --model "$T/tiny" --in "$T/lat$np.st" --out "$T/ref$np.st" --tile-size 64 --tile-stride 48 \
    >/dev/null || fail "vae decode"
  cmp "$T/space$np.st" "$T/ref$np.st" || fail "np $np: space decode differs from the single-process tiled decode"
  echo "np $np, VAE split space: bit-identical to the single-process tiled decode (tiles 64/48, 3x3 grid)"
done

for np in 2 4; do
  for wu in 13 4; do
    run_mpi $np "$T/job.json" --vae-warmup $wu --out "$T/time$np.y4m" --save-video "$T/time$np-$wu.st" \
      >"$T/time$np.log" 2>&1 || { cat "$T/time$np.log"; fail "np $np time"; }
    if [ $wu = 13 ]; then lim="--min-psnr 45 --max-abs 0.1"; else lim="--min-psnr 20"; fi
    echo "np $np, VAE split time, warm-up $wu: frames vs np 1 ($lim outside overlaps)"
    # shellcheck disable=SC2086
    "$VC" "$T/np1_time.st" "$T/time$np-$wu.st" --plan 13 $np 2 $lim || fail "np $np warm-up $wu: beyond tolerance"
  done
done
echo "PASS"
