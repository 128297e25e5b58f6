#!/bin/sh
# Image to video on the farm: a job with an "image" (the client reads and
# decodes it; its pixels travel with every task, checksummed) rendered by a
# coordinator and 2 workers (`framefarm farm --workers 2`) gives, for each
# item, the same bytes as `framefarm render --image` with that item's prompt
# and seed. A job whose image cannot be read, or whose video would be cut
# into windows, is refused before anything runs (exit 2). Skips (77) in
# builds without the farm or without PNG support.
set -u
ff="$1"
fx=$(dirname "$0")/fixtures
"$ff" keygen 2>&1 | grep -q "unknown command" && { echo "SKIP: built without the farm"; exit 77; }
"$ff" doctor | grep -q "PNG yes" || { echo "SKIP: built without PNG support"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$ff" init-model tiny-i2v "$tmp/m" >/dev/null || fail "init-model tiny-i2v"
cp "$fx/i2v_rgb.png" "$tmp/first.png"
job() { # output, extra JSON
  printf '{"model": "%s", "prompts": ["A paper boat on a river.", "A red kite in the wind."], "seeds": [5, 6],
  "width": 32, "height": 32, "frames": 9, "steps": 2, "image": "%s", "output": "%s"%s}\n' \
    "$tmp/m" "$tmp/first.png" "$1" "${2:-}"
}
job "$tmp/farm.y4m" > "$tmp/job.json"
"$ff" farm --workers 2 "$tmp/job.json" > "$tmp/farm.out" 2> "$tmp/farm.err" || { cat "$tmp/farm.err"; fail "farm exited $?"; }
i=0
for item in "A paper boat on a river.:5" "A red kite in the wind.:6"; do
  prompt=${item%:*}; seed=${item##*:}
  "$ff" render --model "$tmp/m" --image "$tmp/first.png" --prompt "$prompt" --seed "$seed" --width 32 --height 32 \
    --frames 9 --steps 2 --out "$tmp/r$i.y4m" > /dev/null 2>&1 || fail "render --image of item $i"
  cmp "$tmp/farm_000$i.y4m" "$tmp/r$i.y4m" || fail "item $i: the farm's video differs from render --image"
  i=$((i + 1))
done
cmp -s "$tmp/farm_0000.y4m" "$tmp/farm_0001.y4m" && fail "both items gave the same video"
# refused before anything runs: an unreadable image, a video cut into windows
printf 'not a png' > "$tmp/bad.png"
sed "s#$tmp/first.png#$tmp/bad.png#" "$tmp/job.json" > "$tmp/bad.json"
"$ff" farm --workers 1 "$tmp/bad.json" > /dev/null 2> "$tmp/err"; rc=$?
[ "$rc" -eq 2 ] || fail "a bad image exited $rc, want 2"
grep -q "bad.png" "$tmp/err" || fail "the bad image is not named: $(cat "$tmp/err")"
job "$tmp/long.y4m" ', "chunking": {"frames": 5, "overlap": 1}' > "$tmp/long.json"
"$ff" farm --workers 1 "$tmp/long.json" > /dev/null 2> "$tmp/err"; rc=$?
[ "$rc" -eq 2 ] || fail "a windowed image job exited $rc, want 2"
grep -q "one window" "$tmp/err" || fail "no reason for refusing windows: $(cat "$tmp/err")"
echo "ok"
