#!/bin/sh
# render's memory flags on the embedded tiny model (CPU backend; the device
# pool stands in for VRAM): every forced strategy (--offload none / model /
# sequential --group 1,2 / auto, --vae-slicing) gives a .y4m identical to the
# default run, and --vae-tiling (low-memory tiled decode) the default tiled
# run's; a --vram-budget below the all-resident need renders, prints one plan
# line per stage and, with --stats, a measured device peak under the budget;
# with the model's tiles removed the planner tiles by itself to fit; a budget
# nothing fits is one line naming the smallest budget that works (exit 1), and
# that budget then works.
set -u
ff="$1"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$ff" init-model tiny "$tmp/tiny" >/dev/null || fail "init-model"
run() { "$ff" render --model "$tmp/tiny" --prompt "A cat walks through a forest." --frames 5 --height 32 --width 48 \
        --steps 3 --seed 5 "$@" 2>"$tmp/err"; }
run --out "$tmp/ref.y4m" >/dev/null || fail "default render"
for opt in "--offload none" "--offload model" "--offload sequential --group 1" "--offload sequential --group 2" \
           "--offload auto" "--vae-slicing"; do
  # shellcheck disable=SC2086
  out=$(run $opt --out "$tmp/x.y4m") || { cat "$tmp/err"; fail "render $opt"; }
  cmp -s "$tmp/ref.y4m" "$tmp/x.y4m" || fail "$opt: video differs from the default run"
  for st in text_encoder transformer vae; do
    echo "$out" | grep -q "^plan: $st " || fail "$opt: no plan line for $st"
  done
  echo "ok $opt: $(echo "$out" | grep '^plan: offload')"
done
# the all-resident need, from the planner
need=$(run --offload none --out "$tmp/x.y4m" --stats | sed -n 's/^plan: offload none; predicted device peak \([0-9.]*\) MiB.*/\1/p')
[ -n "$need" ] || fail "no predicted all-resident peak"
budget=$(awk -v n="$need" 'BEGIN { printf "%.2fMiB", n * 0.9 }')
out=$(run --vram-budget "$budget" --stats --out "$tmp/b.y4m") || { cat "$tmp/err"; fail "render under $budget"; }
echo "$out" | grep "^plan\|^device peak"
cmp -s "$tmp/ref.y4m" "$tmp/b.y4m" || fail "budget $budget: video differs"
echo "$out" | grep -q "^plan: offload none;" && fail "budget $budget below the all-resident need $need MiB chose none"
line=$(echo "$out" | grep "^device peak [0-9]* B") || fail "--stats: no device peak line"
peak=$(echo "$line" | sed 's/^device peak \([0-9]*\) B.*/\1/')
lim=$(awk -v b="${budget%MiB}" 'BEGIN { printf "%d", b * 1048576 }')
[ "$peak" -gt 0 ] && [ "$peak" -le "$lim" ] || fail "measured peak $peak over the budget $lim"
# VAE tiling: low-memory tiles give the default tiled video (128x128, tiles 64/48 from the model)
run2() { "$ff" render --model "$tmp/tiny" --prompt "Two birds." --frames 5 --steps 2 "$@" 2>"$tmp/err"; }
run2 --out "$tmp/t_ref.y4m" >/dev/null || fail "default tiled render"
out=$(run2 --vae-tiling --vram-budget 12MiB --stats --out "$tmp/t.y4m") || { cat "$tmp/err"; fail "--vae-tiling"; }
echo "$out" | grep -q "^plan: vae .*tiled 64/48 px" || fail "--vae-tiling: no tiled vae plan line"
cmp -s "$tmp/t_ref.y4m" "$tmp/t.y4m" || fail "--vae-tiling: video differs from the default tiled run"
# without the model's tile defaults, a small budget makes the planner tile by itself
cp -r "$tmp/tiny" "$tmp/notile"
sed -i -e 's/, "tile_sample_min_height": 64, "tile_sample_min_width": 64,/},/' -e '/"tile_sample_stride_height"/d' \
  "$tmp/notile/model_index.json"
grep -q tile_sample "$tmp/notile/model_index.json" && fail "could not remove the tile defaults"
out=$("$ff" render --model "$tmp/notile" --prompt "Two birds." --frames 5 --steps 2 --vram-budget 12MiB --stats \
      --out "$tmp/n.y4m" 2>"$tmp/err") || { cat "$tmp/err"; fail "auto tiling render"; }
echo "$out" | grep "^plan: vae\|^device peak [0-9]"
echo "$out" | grep -q "^plan: vae .*tiled [0-9]*/[0-9]* px" || fail "12 MiB at 128x128: the planner did not tile"
peak=$(echo "$out" | sed -n 's/^device peak \([0-9]*\) B.*/\1/p')
[ "$peak" -le $((12 * 1048576)) ] || fail "auto tiling: peak $peak over 12 MiB"
# a budget too small for anything: one line naming the smallest budget, exit 1
run --vram-budget 1MiB --out "$tmp/s.y4m" >/dev/null; rc=$?
cat "$tmp/err"
[ "$rc" -eq 1 ] || fail "1 MiB budget exited $rc, want 1"
[ "$(wc -l < "$tmp/err")" -eq 1 ] || fail "budget error is not one line"
grep -q "too small.*needs [0-9.]* MiB" "$tmp/err" || fail "budget error does not name the smallest budget"
[ -e "$tmp/s.y4m" ] && fail "a failed render left its file"
small=$(sed 's/.*needs \([0-9.]*\) MiB.*/\1/' "$tmp/err")
more=$(awk -v n="$small" 'BEGIN { printf "%.3fMiB", n * 1.01 }')
run --vram-budget "$more" --out "$tmp/s.y4m" >/dev/null || { cat "$tmp/err"; fail "the named smallest budget $more does not render"; }
cmp -s "$tmp/ref.y4m" "$tmp/s.y4m" || echo "note: the smallest plan tiles the VAE (different video)"
# usage errors
run --offload bogus --out "$tmp/u.y4m" >/dev/null; [ $? -eq 2 ] || fail "--offload bogus: want exit 2"
run --offload model --group 2 --out "$tmp/u.y4m" >/dev/null; [ $? -eq 2 ] || fail "--group without sequential: want exit 2"
echo "ok"
