#!/bin/sh
# framefarm plan on the real Wan configs (no weights): 1.3B, 14B and A14B at
# 480p and 720p, 81 frames, budgets 8/16/24/80 GiB. Each run either prints the
# plan table with a predicted peak that fits the budget (exit 0) or one line
# naming the smallest budget that would work (exit 1), and that budget then
# works. Usage errors exit 2.
set -u
ff="$1"
configs="$2/../configs"
[ -d "$configs/wan2.1-t2v-1.3b" ] || { echo "SKIP: no $configs"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
for model in wan2.1-t2v-1.3b wan2.1-t2v-14b wan2.2-t2v-a14b; do
  for size in 480x832 720x1280; do
    h=${size%x*}; w=${size#*x}
    for budget in 8GiB 16GiB 24GiB 80GiB; do
      out=$("$ff" plan --model "$configs/$model" --height "$h" --width "$w" --frames 81 --budget "$budget" 2>&1); rc=$?
      echo "== $model ${h}x${w} $budget (exit $rc)"
      echo "$out"
      if [ "$rc" -eq 0 ]; then
        echo "$out" | grep -q "^stage  *strategy  *weights  *activations  *others  *peak  *moved/step" || fail "no table header"
        echo "$out" | grep -q "^transformer " || fail "no transformer row"
        echo "$out" | grep -q "^vae " || fail "no vae row"
        echo "$out" | grep -q "predicted device peak .* of budget .*: fits" || fail "no fitting peak line"
        echo "$out" | grep -q "^host RAM: .*MemTotal" || fail "no host RAM line"
        if [ "$model" = wan2.2-t2v-a14b ]; then echo "$out" | grep -q "^transformer_2 " || fail "no transformer_2 row"; fi
      elif [ "$rc" -eq 1 ]; then
        [ "$(echo "$out" | wc -l)" -eq 1 ] || fail "budget error is not one line"
        echo "$out" | grep -q "too small.*needs [0-9.]* [KMGT]iB" || fail "budget error does not name the smallest budget"
        need=$(echo "$out" | sed 's/.*needs \([0-9.]*\) \([KMGT]\)iB.*/\1\2iB/')
        # formatted sizes are rounded: a budget 1% larger than the printed one must work
        more=$(awk -v n="${need%[KMGT]iB}" 'BEGIN { printf "%.4f", n * 1.01 }')${need#${need%[KMGT]iB}}
        "$ff" plan --model "$configs/$model" --height "$h" --width "$w" --frames 81 --budget "$more" >/dev/null ||
          fail "the named smallest budget $need ($more) does not work"
      else
        fail "exit $rc"
      fi
    done
  done
done
"$ff" plan --model "$configs/wan2.1-t2v-1.3b" >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || fail "missing --budget exited $rc, want 2"
"$ff" plan --model "$configs/wan2.1-t2v-1.3b" --budget 8GiB --dtype f16 >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || fail "bad --dtype exited $rc, want 2"
"$ff" plan --model "$configs/wan2.1-t2v-1.3b" --budget 80GiB --height 100 >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || fail "height 100 exited $rc, want 2"
echo "ok"
