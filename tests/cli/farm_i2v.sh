#!/bin/sh
# Image to video on the farm: a job with an "image" (the client reads and
# decodes it; its pixels travel with every task, checksummed) rendered by a
# coordinator and 2 workers (`framefarm farm --workers 2`) gives, for each
# item, the same bytes as `framefarm render --image` with that item's prompt
# and seed. A longer video cut into successive windows (each after the
# first starts from the previous one's last decoded frame) renders the same
# with 1 or 2 workers, and status shows which window waits for which. A job
# whose image cannot be read is refused before anything runs (exit 2).
# Skips (77) in builds without the farm or without PNG support.
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
# a video cut into successive windows (9 frames, windows of 5 sharing one frame): window 1 of each item
# starts from window 0's last frame; the same bytes with 1 or 2 workers, 9 frames per video
job "$tmp/win.y4m" ', "chunking": {"frames": 5}' > "$tmp/win.json"
"$ff" farm --workers 2 "$tmp/win.json" > /dev/null 2> "$tmp/win.err" || { cat "$tmp/win.err"; fail "windowed farm --workers 2"; }
sed "s#$tmp/win.y4m#$tmp/win1.y4m#" "$tmp/win.json" > "$tmp/win1.json"
"$ff" farm --workers 1 "$tmp/win1.json" > /dev/null 2> "$tmp/win.err" || { cat "$tmp/win.err"; fail "windowed farm --workers 1"; }
for i in 0 1; do
  cmp "$tmp/win_000$i.y4m" "$tmp/win1_000$i.y4m" || fail "item $i: 1 and 2 workers differ"
  [ "$(grep -a -o FRAME "$tmp/win_000$i.y4m" | wc -l)" -eq 9 ] || fail "item $i: not 9 frames"
done
cmp -s "$tmp/win_0000.y4m" "$tmp/farm_0000.y4m" && fail "windows gave the one-window video"
# the dependency in status: with no worker, window 1 waits for window 0
"$ff" coordinator --bind 'tcp://127.0.0.1:*' --state "$tmp/st" --output-root "$tmp" --log-level warn 2>"$tmp/coord.log" &
cpid=$!
i=0; while [ ! -s "$tmp/st/endpoint" ]; do i=$((i+1)); [ $i -lt 1200 ] || { kill $cpid; fail "coordinator did not start"; }; sleep 0.05; done
ep=$(cat "$tmp/st/endpoint")
sed "s#$tmp/win.y4m#$tmp/q.y4m#" "$tmp/win.json" > "$tmp/q.json"
"$ff" submit "$tmp/q.json" --connect "$ep" > /dev/null 2>&1 || { kill $cpid; fail "submit"; }
"$ff" status 1 --connect "$ep" > "$tmp/status.out" 2>&1
kill $cpid; wait $cpid 2>/dev/null
cat "$tmp/status.out"
grep -q "^0 .* queued .*-$" "$tmp/status.out" || fail "window 0 is not plainly queued"
grep -q "^1 .* queued .* waits for chunk 0$" "$tmp/status.out" || fail "status does not show window 1 waiting for chunk 0"
grep -q "^3 .* queued .* waits for chunk 2$" "$tmp/status.out" || fail "status does not show window 3 waiting for chunk 2"
# refused before anything runs: an unreadable image
printf 'not a png' > "$tmp/bad.png"
sed "s#$tmp/first.png#$tmp/bad.png#" "$tmp/job.json" > "$tmp/bad.json"
"$ff" farm --workers 1 "$tmp/bad.json" > /dev/null 2> "$tmp/err"; rc=$?
[ "$rc" -eq 2 ] || fail "a bad image exited $rc, want 2"
grep -q "bad.png" "$tmp/err" || fail "the bad image is not named: $(cat "$tmp/err")"
echo "ok"
