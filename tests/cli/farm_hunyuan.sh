#!/bin/sh
# The farm renders HunyuanVideo: `framefarm farm --workers 2` (coordinator
# and two worker processes on 127.0.0.1) over the embedded tiny
# tiny-hunyuanvideo model:
#  - a batch of two prompts, videos not cut: each item's .y4m is
#    bit-identical to `framefarm render` of that item alone (same threads);
#  - one video cut into windows of 5 latent frames (overlap 1 + cross-fade)
#    across the workers: the assembled video has all 33 frames.
# Skips (77) in builds without the farm.
set -u
ff="$1"
"$ff" keygen 2>&1 | grep -q "unknown command" && { echo "SKIP: built without the farm"; exit 77; }
tmp=$(mktemp -d "${FF_TEST_TMP:-/tmp}/farm_hy.XXXXXX"); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$ff" init-model tiny-hunyuanvideo "$tmp/hy" >/dev/null || fail "init-model"
cat > "$tmp/batch.json" <<JOB
{"model": "$tmp/hy", "prompts": ["A cat walks on the grass.", "Waves at dusk."], "seed": 11, "width": 48, "height": 32,
 "frames": 9, "steps": 2, "guidance_scale": 6.0, "max_sequence_length": 24, "fps": 15, "chunking": {"frames": 0},
 "output": "$tmp/batch.y4m"}
JOB
"$ff" farm --workers 2 --threads 1 --state "$tmp/st1" "$tmp/batch.json" > "$tmp/farm1.log" 2>&1 || { cat "$tmp/farm1.log"; fail "farm batch"; }
i=0
for p in "A cat walks on the grass." "Waves at dusk."; do
  "$ff" render --model "$tmp/hy" --prompt "$p" --seed 11 --width 48 --height 32 --frames 9 --steps 2 --guidance 6 \
    --max-sequence-length 24 --fps 15 --threads 1 --out "$tmp/r$i.y4m" >/dev/null 2>&1 || fail "render item $i"
  cmp "$tmp/r$i.y4m" "$tmp/batch_000$i.y4m" || fail "item $i: the farm's video differs from framefarm render"
  echo "item $i: farm (2 workers) = framefarm render, bit for bit"
  i=$((i + 1))
done
cat > "$tmp/cut.json" <<JOB
{"model": "$tmp/hy", "prompt": "A red boat on a misty lake.", "seed": 5, "width": 48, "height": 32, "frames": 33,
 "steps": 2, "guidance_scale": 6.0, "max_sequence_length": 24, "chunking": {"frames": 17, "overlap": 4},
 "output": "$tmp/cut.y4m"}
JOB
"$ff" farm --workers 2 --threads 1 --state "$tmp/st2" "$tmp/cut.json" > "$tmp/farm2.log" 2>&1 || { cat "$tmp/farm2.log"; fail "farm cut job"; }
[ -s "$tmp/cut.y4m" ] || fail "no cut video"
size=$(wc -c < "$tmp/cut.y4m"); hdr=$(head -n 1 "$tmp/cut.y4m"); hl=$(( $(printf '%s' "$hdr" | wc -c) + 1 ))
n=$(( (size - hl) / (6 + 48 * 32 * 3 / 2) ))
[ "$n" -eq 33 ] || fail "cut video has $n frames, want 33"
echo "cut job (windows of 17 frames, overlap 4) over 2 workers: 33 frames"
echo "ok"
