#!/bin/sh
# The farm clients' exit codes, the ones batch scripts rely on:
# 0 done, 1 job failed, 2 usage/refused, 3 coordinator unreachable,
# 4 cancelled; daemons refuse bad options with 2. Skips (77) in builds
# without the farm (FRAMEFARM_FARM=OFF).
set -u
ff="$1"
"$ff" keygen 2>&1 | grep -q "unknown command" && { echo "SKIP: built without the farm"; exit 77; }
tmp=$(mktemp -d); pids=""
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect() { # code, what, command...
  want=$1; what=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
  [ "$rc" -eq "$want" ] || { cat "$tmp/err"; fail "$what: exit $rc, want $want"; }
}
expect 2 "submit without a file" "$ff" submit
expect 2 "submit a missing file" "$ff" submit "$tmp/nope.json"
echo '{"model": "/m", "prompt": "x", "seed": 1, "output": "o.y4m", "promt": 2}' > "$tmp/typo.json"
expect 2 "submit a job with a typo" "$ff" submit "$tmp/typo.json"
grep -q "unknown key 'promt'" "$tmp/err" || fail "the typo is not named: $(cat "$tmp/err")"
expect 3 "status with no coordinator" "$ff" status --connect tcp://127.0.0.1:1 --timeout 1
expect 2 "coordinator without --state" "$ff" coordinator
expect 2 "coordinator on a public address without keys" "$ff" coordinator --bind tcp://10.1.2.3:5555 --state "$tmp/s0"
grep -q "without CURVE" "$tmp/err" || fail "no reason given: $(cat "$tmp/err")"
expect 2 "worker without --connect" "$ff" worker
expect 0 "keygen" "$ff" keygen "$tmp/k"
expect 1 "keygen over an existing key" "$ff" keygen "$tmp/k"

"$ff" coordinator --bind 'tcp://127.0.0.1:*' --state "$tmp/st" --output-root "$tmp" --log-level warn 2>"$tmp/coord.log" & pids="$pids $!"
i=0; while [ ! -s "$tmp/st/endpoint" ]; do i=$((i+1)); [ $i -lt 1200 ] || fail "coordinator did not start"; sleep 0.05; done
ep=$(cat "$tmp/st/endpoint")
# no worker yet: a job waits queued, is cancelled, and its waiting client exits 4
printf '{"model": "/unused", "prompt": "p", "seed": 1, "width": 16, "height": 16, "frames": 5, "output": "%s/c.y4m"}\n' "$tmp" > "$tmp/c.json"
"$ff" submit "$tmp/c.json" --connect "$ep" --wait > "$tmp/wait.out" 2>"$tmp/wait.err" & waiter=$!
i=0; while ! "$ff" status 1 --connect "$ep" >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 1200 ] || fail "job 1 never appeared"; sleep 0.05; done
expect 0 "cancel" "$ff" cancel 1 --connect "$ep"
grep -q "job 1: cancelled" "$tmp/out" || fail "cancel output: $(cat "$tmp/out")"
wait $waiter; rc=$?
[ "$rc" -eq 4 ] || fail "submit --wait of a cancelled job exited $rc, want 4"
expect 2 "status of an unknown job" "$ff" status 99 --connect "$ep"
grep -q "no job 99" "$tmp/err" || fail "unknown job not named: $(cat "$tmp/err")"
# a worker (TEST MODE) renders the next job; submit --wait prints the outputs
"$ff" worker --connect "$ep" --test-no-render --log-level warn 2>"$tmp/worker.log" & pids="$pids $!"
printf '{"model": "/unused", "prompts": ["a", "b"], "seed": 1, "width": 16, "height": 16, "frames": 5, "output": "%s/ok.y4m"}\n' "$tmp" > "$tmp/ok.json"
expect 0 "submit --wait" "$ff" submit "$tmp/ok.json" --connect "$ep" --wait --wait-timeout 120
[ "$(sed -n 1p "$tmp/out")" = "2" ] || fail "the job id is not the first line of stdout: $(cat "$tmp/out")"
grep -q "ok_0001.y4m" "$tmp/out" || fail "outputs not printed: $(cat "$tmp/out")"
[ -s "$tmp/ok_0000.y4m" ] && [ -s "$tmp/ok_0001.y4m" ] || fail "videos missing"
expect 0 "workers" "$ff" workers --connect "$ep"
grep -q "test-no-render" "$tmp/out" || fail "workers table: $(cat "$tmp/out")"
# framefarm farm: coordinator + 2 local workers (TEST MODE) for one job
printf '{"model": "/unused", "prompts": ["a", "b", "c"], "seed": 4, "width": 16, "height": 16, "frames": 9, "output": "%s/farm.y4m"}\n' "$tmp" > "$tmp/farm.json"
expect 0 "farm --workers 2" "$ff" farm --workers 2 --test-no-render "$tmp/farm.json"
[ -s "$tmp/farm_0002.y4m" ] || fail "farm: no output"
echo "ok"
