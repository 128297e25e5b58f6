#!/bin/sh
# The farm renders the embedded tiny CogVideoX model with real processes
# (framefarm farm: a coordinator and local workers on 127.0.0.1):
#  - a whole-video job on 2 workers writes the same bytes as framefarm render
#    (both take the fields they do not name, fps included, from the model);
#  - a job of 2 prompts x 2 windows (33 frames = 9 latent frames, windows of
#    5 latent frames overlapping by 1) on 2 workers writes 33 frames per
#    item, the same bytes as the same job on 1 worker;
#  - windows with an even number of latent frames (which CogVideoX decodes
#    to 4 n frames, not the farm's 1 + 4 (n - 1)) fail with a message saying
#    so (exit 1), and the workers stay up for the next job.
# Skips (77) in builds without the farm.
set -u
ff="$1"
"$ff" keygen 2>&1 | grep -q "unknown command" && { echo "SKIP: built without the farm"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
frames() { grep -a -o FRAME "$1" | wc -l | tr -d ' '; }
"$ff" init-model tiny-cogvideox "$tmp/tc" >/dev/null || fail "init-model tiny-cogvideox"
job() { # output, frames, extra JSON
  printf '{"model": "%s/tc", %s, "seed": 9, "width": 64, "height": 64, "frames": %s, "steps": 3, "guidance_scale": 6.0, "output": "%s"%s}\n' \
    "$tmp" "$4" "$2" "$1" "$3"
}
one='"prompt": "a red boat on a lake"'
two='"prompts": ["a red boat on a lake", "a fox in the snow"]'
job "$tmp/one.y4m" 9 "" "$one" > "$tmp/one.json"
"$ff" farm --workers 2 "$tmp/one.json" >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "farm of a whole-video job"; }
"$ff" render --model "$tmp/tc" --prompt "a red boat on a lake" --seed 9 --width 64 --height 64 --frames 9 --steps 3 \
  --guidance 6 --out "$tmp/render.y4m" >/dev/null 2>&1 || fail "render"
cmp -s "$tmp/one.y4m" "$tmp/render.y4m" || fail "the farm's whole video differs from framefarm render"
echo "whole video on 2 workers: bit-identical to framefarm render"
job "$tmp/w2.y4m" 33 ', "chunking": {"frames": 17, "overlap": 1}' "$two" > "$tmp/w2.json"
job "$tmp/w1.y4m" 33 ', "chunking": {"frames": 17, "overlap": 1}' "$two" > "$tmp/w1.json"
"$ff" farm --workers 2 "$tmp/w2.json" >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "farm --workers 2 (windows)"; }
grep -q "4/4 chunks" "$tmp/log" || { cat "$tmp/log"; fail "want 4 chunks (2 items x 2 windows)"; }
"$ff" farm --workers 1 "$tmp/w1.json" >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "farm --workers 1 (windows)"; }
for i in 0000 0001; do
  [ "$(frames "$tmp/w2_$i.y4m")" = 33 ] || fail "item $i: $(frames "$tmp/w2_$i.y4m") frames, want 33"
  cmp -s "$tmp/w2_$i.y4m" "$tmp/w1_$i.y4m" || fail "item $i: 2 workers and 1 worker wrote different bytes"
done
cmp -s "$tmp/w2_0000.y4m" "$tmp/w2_0001.y4m" && fail "two prompts rendered the same video"
echo "2 items x 2 windows: 33 frames each, the same bytes on 2 workers and on 1"
# windows of 4 latent frames: refused with the reason
job "$tmp/bad.y4m" 25 ', "chunking": {"frames": 13, "overlap": 1}, "max_attempts": 1' "$one" > "$tmp/bad.json"
"$ff" farm --workers 1 "$tmp/bad.json" >"$tmp/log" 2>&1; rc=$?
[ "$rc" -eq 1 ] || { cat "$tmp/log"; fail "even windows: exit $rc, want 1"; }
grep -q "odd number of latent frames" "$tmp/log" || { cat "$tmp/log"; fail "even windows: the reason is not given"; }
echo "windows of 4 latent frames: refused (exit 1) naming the reason"
echo "ok"
