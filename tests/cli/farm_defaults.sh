#!/bin/sh
# One set of defaults (issue 21): a one-item farm job with only model,
# prompt, seed and output renders the bytes `render` writes with the same
# arguments (the model's _framefarm_defaults: size, frames, steps, guidance,
# fps, VAE tiles), through a coordinator with a real worker (`status` shows
# the resolved settings); through `framefarm farm`, a job's given fields win
# over the model's, byte for byte as render's flags (and `farm` prints the
# resolved settings). Real processes on 127.0.0.1, the embedded tiny model.
set -u
ff="$1"
"$ff" keygen 2>&1 | grep -q "unknown command" && { echo "SKIP: built without the farm"; exit 77; }
tmp=$(mktemp -d); pids=""
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$ff" init-model tiny "$tmp/tiny" >/dev/null || fail "init-model"
"$ff" render --model "$tmp/tiny" --prompt "a red fox" --seed 7 --out "$tmp/render.y4m" >"$tmp/render.out" 2>&1 ||
  fail "render: $(cat "$tmp/render.out")"
# a coordinator, a worker, submit --wait, status
"$ff" coordinator --bind 'tcp://127.0.0.1:*' --state "$tmp/st" --output-root "$tmp" --log-level warn 2>"$tmp/coord.log" & pids="$pids $!"
i=0; while [ ! -s "$tmp/st/endpoint" ]; do i=$((i+1)); [ $i -lt 1200 ] || fail "coordinator did not start"; sleep 0.05; done
ep=$(cat "$tmp/st/endpoint")
"$ff" worker --connect "$ep" --threads 1 --log-level warn 2>"$tmp/worker.log" & pids="$pids $!"
printf '{"model": "%s/tiny", "prompt": "a red fox", "seed": 7, "output": "%s/w.y4m"}\n' "$tmp" "$tmp" >"$tmp/w.json"
"$ff" submit "$tmp/w.json" --connect "$ep" --wait --wait-timeout 300 >"$tmp/sub.out" 2>"$tmp/sub.err" ||
  fail "submit --wait: $(cat "$tmp/sub.err") $(cat "$tmp/worker.log")"
cmp "$tmp/render.y4m" "$tmp/w.y4m" || fail "the worker did not render what render renders"
"$ff" status 1 --connect "$ep" >"$tmp/status.out" 2>&1 || fail "status: $(cat "$tmp/status.out")"
grep -q "^settings: 128x128, 17 frames, 10 steps, guidance 5, 16 fps, VAE tiles 64/48 px, f32$" "$tmp/status.out" ||
  fail "status does not show the resolved settings: $(cat "$tmp/status.out")"
# given fields win over the model's, through `framefarm farm` (small: 64 wide, 2 steps)
printf '{"model": "%s/tiny", "prompt": "a red fox", "seed": 7, "width": 64, "steps": 2, "vae": {"tiling": false}, "output": "%s/g.y4m"}\n' "$tmp" "$tmp" >"$tmp/g.json"
"$ff" farm --workers 1 "$tmp/g.json" >"$tmp/farm.out" 2>"$tmp/farm.err" || fail "farm: $(cat "$tmp/farm.err")"
grep -q "64x128, 17 frames, 2 steps, guidance 5, 16 fps, VAE untiled" "$tmp/farm.err" || fail "given fields: $(cat "$tmp/farm.err")"
"$ff" render --model "$tmp/tiny" --prompt "a red fox" --seed 7 --width 64 --steps 2 --no-tile --out "$tmp/g_render.y4m" >/dev/null 2>&1 || fail "render g"
cmp "$tmp/g_render.y4m" "$tmp/g.y4m" || fail "farm --workers 1: a job with given fields differs from render with the same flags"
echo "ok"
