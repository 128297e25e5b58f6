#!/bin/sh
# Visible refusals (issue 21): a worker whose CURVE key the coordinator
# refuses (not in --curve-allow), one with the wrong --server-key and one
# without keys each log the reason and exit non-zero within a bounded time
# (polled; 60 s is a failure, not a wait); a client with a refused key
# says why and exits 3 before its timeout. Files are created with the
# user's umask: a farm's video is 0644 under umask 022 and 0640 under 027.
# Real processes on 127.0.0.1; TEST MODE workers (no model).
set -u
ff="$1"
"$ff" keygen 2>&1 | grep -q "unknown command" && { echo "SKIP: built without the farm"; exit 77; }
tmp=$(mktemp -d); pids=""
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
for k in coord other good bad; do "$ff" keygen "$tmp/$k" >/dev/null || fail "keygen $k"; done
mkdir "$tmp/allow" && cp "$tmp/good.pub" "$tmp/allow/"
"$ff" coordinator --bind 'tcp://127.0.0.1:*' --state "$tmp/st" --curve-secret "$tmp/coord.key" --curve-allow "$tmp/allow" \
  --output-root "$tmp" --log-level warn 2>"$tmp/coord.log" & pids="$pids $!"
i=0; while [ ! -s "$tmp/st/endpoint" ]; do i=$((i+1)); [ $i -lt 1200 ] || fail "coordinator did not start"; sleep 0.05; done
ep=$(cat "$tmp/st/endpoint")
refused_worker() { # what, expected text in the reason, worker options...
  what=$1; want=$2; shift 2
  "$ff" worker --connect "$ep" --test-no-render --log-level warn "$@" 2>"$tmp/w.log" & w=$!; pids="$pids $w"
  i=0; while kill -0 $w 2>/dev/null; do i=$((i+1)); [ $i -lt 1200 ] || fail "$what: still running after 60 s"; sleep 0.05; done
  wait $w; rc=$?
  echo "$what: exit $rc after ~$((i * 50)) ms: $(tail -n 1 "$tmp/w.log")"
  [ "$rc" -ne 0 ] || fail "$what: exit 0"
  tail -n 1 "$tmp/w.log" | grep -q "framefarm worker: .*$want" || fail "$what: no reason on its last line: $(cat "$tmp/w.log")"
}
refused_worker "a worker with an unlisted key" "refused this worker's CURVE key" --server-key "$tmp/coord.pub" --client-key "$tmp/bad"
refused_worker "a worker with the wrong server key" "CURVE handshake failed" --server-key "$tmp/other.pub" --client-key "$tmp/good"
refused_worker "a worker without keys" "give --server-key" --client-key "$tmp/good"
# a client refused: the reason, exit 3, before its 30 s timeout
start=$(date +%s)
"$ff" status --connect "$ep" --server-key "$tmp/coord.pub" --client-key "$tmp/bad" --timeout 30 >/dev/null 2>"$tmp/c.err"; rc=$?
echo "a client with an unlisted key: exit $rc after $(( $(date +%s) - start )) s: $(cat "$tmp/c.err")"
[ "$rc" -eq 3 ] || fail "client: exit $rc, want 3"
grep -q "refused this client's CURVE key" "$tmp/c.err" || fail "client: $(cat "$tmp/c.err")"
[ $(( $(date +%s) - start )) -lt 30 ] || fail "client waited for its timeout"
# the listed worker registers and renders; the video follows the umask
"$ff" worker --connect "$ep" --test-no-render --server-key "$tmp/coord.pub" --client-key "$tmp/good" --log-level warn 2>"$tmp/good.log" & pids="$pids $!"
for u in 022 027; do
  printf '{"model": "/unused", "prompt": "p", "seed": 1, "width": 16, "height": 16, "frames": 5, "output": "%s/v%s.y4m"}\n' "$tmp" $u >"$tmp/j$u.json"
  (umask $u; "$ff" submit "$tmp/j$u.json" --connect "$ep" --server-key "$tmp/coord.pub" --client-key "$tmp/good" --wait --wait-timeout 120 \
     >/dev/null 2>"$tmp/s.err") || fail "submit: $(cat "$tmp/s.err")"
done
# the coordinator writes the videos with its own umask (it was started under the test's)
want=$(umask | sed 's/^0*//'); mode=$(stat -c %a "$tmp/v022.y4m")
echo "video written by a coordinator started under umask $(umask): mode $mode"
[ "$(( 0666 & ~0$want ))" -eq "$(( 0$mode ))" ] || fail "video mode $mode, want 0666 & ~$(umask)"
# farm (coordinator and workers started by farm) under umask 022 and 027
for u in 022 027; do
  printf '{"model": "/unused", "prompt": "p", "seed": 1, "width": 16, "height": 16, "frames": 5, "output": "%s/f%s.y4m"}\n' "$tmp" $u >"$tmp/f$u.json"
  (umask $u; "$ff" farm --workers 1 --test-no-render "$tmp/f$u.json" >/dev/null 2>"$tmp/f.err") || fail "farm: $(cat "$tmp/f.err")"
done
[ "$(stat -c %a "$tmp/f022.y4m")" = 644 ] || fail "farm under umask 022 wrote mode $(stat -c %a "$tmp/f022.y4m")"
[ "$(stat -c %a "$tmp/f027.y4m")" = 640 ] || fail "farm under umask 027 wrote mode $(stat -c %a "$tmp/f027.y4m")"
echo "farm: 644 under umask 022, 640 under 027"
echo "ok"
