#!/bin/sh
# Threads (issue 21): a worker's default CPU thread count is the cores it may
# use (its affinity here, set with taskset; the cgroup quota is tested in
# tests/core/test_cpus.c); `farm --workers N` gives each worker its share
# (what farm says, and the --threads in each worker's command line);
# --threads T overrides. TEST MODE workers (no model needed).
set -u
ff="$1"
"$ff" keygen 2>&1 | grep -q "unknown command" && { echo "SKIP: built without the farm"; exit 77; }
command -v taskset >/dev/null || { echo "SKIP: no taskset"; exit 77; }
tmp=$(mktemp -d); pids=""
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# the checks of 2 CPUs run where CPUs 0 and 1 are ours and no cgroup quota caps them
ncpu=1
if [ "$(taskset -c 0,1 nproc 2>/dev/null)" = 2 ] && { [ ! -r /sys/fs/cgroup/cpu.max ] || grep -q '^max' /sys/fs/cgroup/cpu.max; }; then
  ncpu=2
fi
[ "$(taskset -c 0 nproc 2>/dev/null)" = 1 ] || { echo "SKIP: CPU 0 is not ours (taskset -c 0)"; exit 77; }
# the worker alone on one CPU: 1 thread (it says so when it starts)
taskset -c 0 "$ff" worker --connect tcp://127.0.0.1:1 --log-level info 2>"$tmp/w1.log" & w=$!; pids="$pids $w"
i=0; until grep -q "CPU thread" "$tmp/w1.log"; do i=$((i+1)); [ $i -lt 1200 ] || fail "worker said nothing: $(cat "$tmp/w1.log")"; sleep 0.05; done
kill -TERM $w; wait $w
grep -q "; 1 CPU thread$" "$tmp/w1.log" || fail "a worker on 1 CPU: $(cat "$tmp/w1.log")"
if [ "$ncpu" -ge 2 ]; then
  taskset -c 0,1 "$ff" worker --connect tcp://127.0.0.1:1 --log-level info 2>"$tmp/w2.log" & w=$!; pids="$pids $w"
  i=0; until grep -q "CPU thread" "$tmp/w2.log"; do i=$((i+1)); [ $i -lt 1200 ] || fail "worker said nothing"; sleep 0.05; done
  kill -TERM $w; wait $w
  grep -q "; 2 CPU threads$" "$tmp/w2.log" || fail "a worker on 2 CPUs: $(cat "$tmp/w2.log")"
  "$ff" worker --connect tcp://127.0.0.1:1 --threads 3 --log-level info 2>"$tmp/w3.log" & w=$!; pids="$pids $w"
  i=0; until grep -q "CPU thread" "$tmp/w3.log"; do i=$((i+1)); [ $i -lt 1200 ] || fail "worker said nothing"; sleep 0.05; done
  kill -TERM $w; wait $w
  grep -q "; 3 CPU threads$" "$tmp/w3.log" || fail "--threads 3: $(cat "$tmp/w3.log")"
fi
# farm: each worker its share, what it says and what it starts
printf '{"model": "/unused", "prompts": ["a", "b", "c", "d"], "seed": 4, "width": 16, "height": 16, "frames": 5, "output": "%s/f.y4m"}\n' "$tmp" >"$tmp/job.json"
share() { # cpus (taskset list), workers, expected "N CPU thread(s) each (U usable cores)", extra args
  cpus=$1; n=$2; want=$3; shift 3
  taskset -c "$cpus" "$ff" farm --workers "$n" --test-no-render "$@" "$tmp/job.json" >/dev/null 2>"$tmp/farm.err" ||
    fail "farm on $cpus: $(cat "$tmp/farm.err")"
  grep -q "$want" "$tmp/farm.err" || fail "farm --workers $n on CPUs $cpus: want '$want': $(head -1 "$tmp/farm.err")"
  echo "farm --workers $n $* on CPUs $cpus: $(head -1 "$tmp/farm.err" | sed 's/.*, \([0-9]* worker\)/\1/; s/, state in.*//')"
}
share 0 2 "2 workers with 1 CPU thread each (1 usable cores)"
if [ "$ncpu" -ge 2 ]; then
  share 0,1 2 "2 workers with 1 CPU thread each (2 usable cores)"
  share 0,1 1 "1 worker with 2 CPU threads each (2 usable cores)"
  share 0,1 2 "2 workers with 3 CPU threads each (--threads)" --threads 3
fi
# the workers really get it: the --threads in the command line of each worker farm starts
# (a 40-item job of the tiny model: the workers live until farm is stopped)
"$ff" init-model tiny "$tmp/tiny" >/dev/null || fail "init-model"
prompts=$(i=0; while [ $i -lt 40 ]; do printf '%s"p%d"' "$([ $i -gt 0 ] && echo ,)" $i; i=$((i+1)); done)
printf '{"model": "%s/tiny", "prompts": [%s], "seed": 1, "output": "%s/v.y4m"}\n' "$tmp" "$prompts" "$tmp" >"$tmp/big.json"
taskset -c 0 "$ff" farm --workers 2 --state "$tmp/stw" "$tmp/big.json" >/dev/null 2>"$tmp/farm.err" & f=$!; pids="$pids $f"
i=0; until [ -s "$tmp/stw/endpoint" ] && [ "$(pgrep -f -- "--connect $(cat "$tmp/stw/endpoint")" | wc -l)" -eq 2 ]; do
  i=$((i+1)); kill -0 $f 2>/dev/null || fail "farm ended: $(cat "$tmp/farm.err")"; [ $i -lt 1200 ] || fail "farm's workers never seen"; sleep 0.05
done
for p in $(pgrep -f -- "--connect $(cat "$tmp/stw/endpoint")"); do
  tr '\0' ' ' </proc/$p/cmdline | grep -q -- "--threads 1" || fail "worker $p: $(tr '\0' ' ' </proc/$p/cmdline)"
done
kill -TERM $f; wait $f
echo "ok"
