#!/bin/sh
# framefarm render with CogVideoX folders (CogVideoXPipeline on the component
# chain): the embedded tiny-cogvideox smoke-test model written by init-model
# (9 frames: 3 latent frames), the golden 1.0 folder with an even latent
# frame count (13 frames ask for 4 latent frames, which decode to 16), and the
# golden 1.5 folder (3 latent frames padded to 4 for patch_size_t 2, the
# padding frame dropped before decoding: 9 frames); --dynamic-cfg changes the
# video. Each y4m holds the frames
# the 'wrote' line names; the same seed renders the same bytes.
set -u
ff="$1"; golden="$2"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
frames() { grep -a -o FRAME "$1" | wc -l | tr -d ' '; }
"$ff" init-model tiny-cogvideox "$tmp/tc" || { echo "init-model tiny-cogvideox failed"; exit 1; }
grep -q '"CogVideoXPipeline"' "$tmp/tc/model_index.json" || { echo "not a CogVideoXPipeline folder"; exit 1; }
out=$("$ff" render --model "$tmp/tc" --prompt "A red boat on a misty lake." --seed 5 --out "$tmp/a.y4m" 2>"$tmp/err") \
  || { cat "$tmp/err"; echo "render of tiny-cogvideox failed"; exit 1; }
echo "$out"
echo "$out" | grep -q "^wrote $tmp/a.y4m (9 frames, 64x64" || { echo "want 9 frames of 64x64 (the model's defaults)"; exit 1; }
[ "$(frames "$tmp/a.y4m")" = 9 ] || { echo "y4m holds $(frames "$tmp/a.y4m") frames, want 9"; exit 1; }
"$ff" render --model "$tmp/tc" --prompt "A red boat on a misty lake." --seed 5 --out "$tmp/b.y4m" >/dev/null 2>&1 \
  || { echo "second render failed"; exit 1; }
cmp -s "$tmp/a.y4m" "$tmp/b.y4m" || { echo "the same seed rendered different bytes"; exit 1; }
"$ff" render --model "$tmp/tc" --prompt "A red boat on a misty lake." --seed 6 --out "$tmp/c.y4m" >/dev/null 2>&1 \
  || { echo "third render failed"; exit 1; }
cmp -s "$tmp/a.y4m" "$tmp/c.y4m" && { echo "another seed rendered the same bytes"; exit 1; }
"$ff" render --model "$tmp/tc" --prompt "A red boat on a misty lake." --seed 5 --dynamic-cfg --out "$tmp/dyn.y4m" \
  >/dev/null 2>&1 || { echo "render --dynamic-cfg failed"; exit 1; }
cmp -s "$tmp/a.y4m" "$tmp/dyn.y4m" && { echo "--dynamic-cfg changed nothing"; exit 1; }
if [ -d "$golden/pipelines/tiny-cogvideox" ]; then
  out=$("$ff" render --model "$golden/pipelines/tiny-cogvideox" --prompt "A cat." --frames 13 --height 32 --width 48 \
        --steps 2 --out "$tmp/d.y4m" 2>"$tmp/err") || { cat "$tmp/err"; echo "render of tiny-cogvideox (1.0) failed"; exit 1; }
  echo "$out"; cat "$tmp/err"
  grep -q "max_sequence_length 24" "$tmp/err" || { echo "no warning that the sincos model takes 24 text rows"; exit 1; }
  echo "$out" | grep -q "(16 frames, 48x32" || { echo "13 frames (4 latent frames) should decode to 16"; exit 1; }
  [ "$(frames "$tmp/d.y4m")" = 16 ] || { echo "y4m holds $(frames "$tmp/d.y4m") frames, want 16"; exit 1; }
  out=$("$ff" render --model "$golden/pipelines/tiny-cogvideox15" --prompt "A cat." --frames 9 --height 32 --width 32 \
        --steps 2 --max-sequence-length 16 --out "$tmp/e.y4m" 2>"$tmp/err") \
    || { cat "$tmp/err"; echo "render of tiny-cogvideox15 failed"; exit 1; }
  echo "$out"
  echo "$out" | grep -q "(9 frames, 32x32" || { echo "1.5: want 9 frames (padding frame dropped)"; exit 1; }
  [ "$(frames "$tmp/e.y4m")" = 9 ] || { echo "y4m holds $(frames "$tmp/e.y4m") frames, want 9"; exit 1; }
fi
echo "ok"
