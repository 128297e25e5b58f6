#!/bin/sh
# The same seed gives a bit-identical video: two renders to .y4m compare
# equal; another seed differs. Also PNG-folder output and --stats.
set -u
ff="$1"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$ff" init-model tiny "$tmp/tiny" >/dev/null || { echo "init-model failed"; exit 1; }
run() { "$ff" render --model "$tmp/tiny" --prompt "A cat walks through a forest." --negative-prompt "blurry" \
        --frames 5 --height 32 --width 48 --steps 3 "$@" 2>/dev/null; }
run --seed 11 --out "$tmp/a.y4m" >/dev/null || { echo "render a failed"; exit 1; }
run --seed 11 --out "$tmp/b.y4m" --threads 1 >/dev/null || { echo "render b failed"; exit 1; }
run --seed 12 --out "$tmp/c.y4m" >/dev/null || { echo "render c failed"; exit 1; }
cmp "$tmp/a.y4m" "$tmp/b.y4m" || { echo "same seed, different videos"; exit 1; }
cmp -s "$tmp/a.y4m" "$tmp/c.y4m" && { echo "different seeds gave the same video"; exit 1; }
head -c 9 "$tmp/a.y4m" | grep -q "YUV4MPEG2" || { echo "not a Y4M file"; exit 1; }
[ "$(grep -c FRAME "$tmp/a.y4m")" -ge 5 ] || { echo "fewer than 5 frames"; exit 1; }
# 6 frames are rounded to 4k+1 = 5, with a warning
err=$("$ff" render --model "$tmp/tiny" --prompt "x" --frames 6 --height 32 --width 32 --steps 1 --out "$tmp/r.y4m" 2>&1 >/dev/null) \
  || { echo "render with 6 frames failed"; exit 1; }
echo "$err" | grep -q "rounding 6 frames to 5" || { echo "no rounding warning: $err"; exit 1; }
# PNG frames into a folder, and --stats
out=$(run --seed 11 --out "$tmp/frames/" --stats) || { echo "png render failed"; exit 1; }
echo "$out"
[ "$(ls "$tmp/frames" | grep -c '^frame_.*\.png$')" -eq 5 ] || { echo "want 5 PNG frames"; exit 1; }
for c in text_encoder transformer vae "peak RSS"; do
  echo "$out" | grep -q "$c" || { echo "--stats: no '$c'"; exit 1; }
done
echo "ok"
