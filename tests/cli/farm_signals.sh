#!/bin/sh
# Process hygiene (issue 21): `framefarm farm` stopped with SIGTERM mid-job,
# and separately SIGKILLed mid-job, leaves no framefarm process behind
# within 5 s (its workers abandon their chunks at the next transformer
# block; with SIGKILL they get SIGTERM from PR_SET_PDEATHSIG). The
# processes are found by this test's own state folder and endpoint in
# their command lines, never by name. Real processes on 127.0.0.1, the
# embedded tiny model, a 40-item job (far longer than the test waits).
set -u
ff="$1"
"$ff" keygen 2>&1 | grep -q "unknown command" && { echo "SKIP: built without the farm"; exit 77; }
command -v pgrep >/dev/null || { echo "SKIP: no pgrep"; exit 77; }
tmp=$(mktemp -d)
ours() { # pids of this test's farm processes: its state folder or its coordinator's endpoint in argv
  pat="$tmp/st"; [ -s "$tmp/$1/endpoint" ] && pat="$pat|$(cat "$tmp/$1/endpoint")"
  pgrep -f "$pat" 2>/dev/null
}
cleanup() { for s in st1 st2; do for p in $(pgrep -f "$tmp/$s" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done; done; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$ff" init-model tiny "$tmp/tiny" >/dev/null || fail "init-model"
mkdir "$tmp/out"
prompts=$(i=0; while [ $i -lt 40 ]; do printf '%s"p%d"' "$([ $i -gt 0 ] && echo ,)" $i; i=$((i+1)); done)
# small items (64x64, 5 frames): every stretch between two cancel checks (a transformer block,
# a decoded latent frame, a component load) stays short even on a loaded machine
printf '{"model": "%s/tiny", "prompts": [%s], "seed": 1, "width": 64, "height": 64, "frames": 5, "output": "%s/out/v.y4m"}\n' \
  "$tmp" "$prompts" "$tmp" >"$tmp/job.json"
# started and mid-job: a chunk of job 1 is running or done
start() { # state folder name
  "$ff" farm --workers 2 --state "$tmp/$1" "$tmp/job.json" >"$tmp/$1.out" 2>"$tmp/$1.err" &
  farm=$!
  i=0
  while :; do
    i=$((i+1)); [ $i -lt 2400 ] || fail "$1: the job never started: $(cat "$tmp/$1.err")"
    kill -0 $farm 2>/dev/null || fail "$1: farm exited early: $(cat "$tmp/$1.err")"
    if [ -s "$tmp/$1/endpoint" ] &&
       "$ff" status 1 --connect "$(cat "$tmp/$1/endpoint")" 2>/dev/null | grep -Eq "chunks: [0-9]+ queued, ([1-9][0-9]* running|[0-9]+ running, [1-9])"; then
      break
    fi
    sleep 0.05
  done
  n=$(ours "$1" | wc -l)
  [ "$n" -ge 4 ] || fail "$1: want farm, a coordinator and 2 workers, found $n: $(ours "$1" | tr '\n' ' ')"
}
gone_within_5s() { # state folder name, what
  i=0
  while [ -n "$(ours "$1")" ]; do
    i=$((i+1)); [ $i -le 100 ] || fail "$2: still running after 5 s: $(for p in $(ours "$1"); do tr '\0' ' ' </proc/$p/cmdline; echo; done) $(tail -n 3 "$tmp/$1.err")"
    sleep 0.05
  done
  echo "$2: no process left after $((i * 50)) ms"
}
start st1
kill -TERM $farm
gone_within_5s st1 "farm SIGTERMed mid-job"
wait $farm; rc=$?
[ "$rc" -eq 143 ] || fail "farm SIGTERMed exited $rc, want 143 (128 + SIGTERM)"
grep -q "stopped by signal 15" "$tmp/st1.err" || fail "no word of the signal: $(cat "$tmp/st1.err")"
start st2
kill -KILL $farm
gone_within_5s st2 "farm SIGKILLed mid-job"
wait $farm 2>/dev/null
echo "ok"
