#!/bin/sh
# framefarm plan on the real CogVideoX configs (no weights): 2B and 5B at
# 480x720 / 49 frames, 1.5-5B at 768x1360 / 81 frames (its latents padded to
# an even frame count), budgets 8/16/24/80 GiB. Each run prints the plan
# table in CogVideoX's latent layout with the three stages of
# text_encoder->transformer->vae and a predicted peak that fits (exit 0), or
# one line naming the smallest budget that would work (exit 1).
set -u
ff="$1"
configs="$2/../configs"
[ -d "$configs/cogvideox-2b" ] || { echo "SKIP: no $configs"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
for spec in cogvideox-2b:480:720:49:13 cogvideox-5b:480:720:49:13 cogvideox1.5-5b:768:1360:81:22; do
  model=${spec%%:*}; rest=${spec#*:}; h=${rest%%:*}; rest=${rest#*:}; w=${rest%%:*}; rest=${rest#*:}
  frames=${rest%%:*}; lat=${rest#*:}
  for budget in 8GiB 16GiB 24GiB 80GiB; do
    out=$("$ff" plan --model "$configs/$model" --height "$h" --width "$w" --frames "$frames" --text-len 226 \
          --budget "$budget" 2>&1); rc=$?
    echo "== $model ${h}x${w} $frames frames $budget (exit $rc)"
    echo "$out"
    if [ "$rc" -eq 0 ]; then
      echo "$out" | grep -q "^latents (B, F, C, h, w) = (1, $lat, " || fail "latent layout / frames: want (B, F, C, h, w) with F=$lat"
      for s in text_encoder transformer vae; do echo "$out" | grep -q "^$s " || fail "no $s row"; done
      echo "$out" | grep -q "predicted device peak .* of budget .*: fits" || fail "no fitting peak line"
    elif [ "$rc" -eq 1 ]; then
      [ "$(echo "$out" | wc -l)" -eq 1 ] || fail "budget error is not one line"
      echo "$out" | grep -q "too small.*needs [0-9.]* [KMGT]iB" || fail "budget error does not name the smallest budget"
    else
      fail "exit $rc"
    fi
  done
done
echo "ok"
