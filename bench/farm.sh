#!/bin/sh
# bench/farm.sh BUILD_DIR [OUT.md]: the farm's coordinator overhead and
# end-to-end throughput, as a markdown table (never a pass/fail test).
#
#  1. dispatch rate: a job of N one-chunk items over W workers started with
#     --test-no-render (a TEST MODE: synthetic 16x16 frames, no model; it is
#     reachable only from the worker's command line). Everything the farm
#     does per task is measured — dispatch, progress messages, frames
#     (zlib), done, the SQLite (WAL) updates, assembly of N tiny videos —
#     except rendering. tasks/s = N / (job submitted -> job done), both
#     times from the coordinator's state.db (the sqlite3 shell; wall time
#     around `submit --wait` without it).
#  2. jobs/hour for the embedded tiny model (64x64, 17 frames, 10 steps, one
#     video per job) with 1 and 2 workers (--threads 1 each): J jobs
#     submitted at once, timed until the last is done.
set -eu
build="${1:?usage: bench/farm.sh BUILD_DIR [OUT.md]}"
out="${2:-/dev/stdout}"
ff="$build/framefarm"
[ -x "$ff" ] || { echo "no $ff"; exit 1; }
tmp=$(mktemp -d); pids=""
cleanup() { for p in $pids; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
N=${FF_BENCH_TASKS:-2000}
J=${FF_BENCH_JOBS:-8}
now() { date +%s.%N; }
# seconds from the first submission to the last finish in a state.db, or
# the wall time given when the sqlite3 shell is missing
db_span() { # state dir, fallback seconds
  if command -v sqlite3 >/dev/null 2>&1; then
    sqlite3 "$1/state.db" "SELECT max(finished_at) - min(submitted_at) FROM jobs"
  else echo "$2"; fi
}

start_coord() { # state dir
  rm -f "$1/endpoint"
  "$ff" coordinator --bind 'tcp://127.0.0.1:*' --state "$1" --log-level warn 2>>"$tmp/coord.log" &
  pids="$pids $!"
  i=0; while [ ! -s "$1/endpoint" ]; do i=$((i+1)); [ $i -lt 600 ] || { echo "coordinator did not start"; exit 1; }; sleep 0.05; done
  ep=$(cat "$1/endpoint")
}
start_workers() { # count, extra args...
  n=$1; shift
  for k in $(seq 1 "$n"); do
    "$ff" worker --connect "$ep" --threads 1 --log-level warn "$@" 2>>"$tmp/workers.log" & pids="$pids $!"
  done
  i=0; while [ "$("$ff" workers --connect "$ep" --json | wc -l)" -lt "$n" ]; do i=$((i+1)); [ $i -lt 600 ] || exit 1; sleep 0.05; done
}
stop_all() { for p in $pids; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=""; }

{
echo "# farm benchmark"
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), framefarm $("$ff" version | cut -d' ' -f2)"
echo
echo "## coordinator overhead: tasks dispatched per second (workers in --test-no-render TEST MODE)"
echo
echo "| workers | tasks | seconds | tasks/s |"
echo "| ---: | ---: | ---: | ---: |"
seeds=$(seq -s, 1 "$N")
for W in 1 2 4; do
  st="$tmp/st-d$W"; mkdir -p "$tmp/o$W"
  start_coord "$st"; start_workers "$W" --test-no-render
  printf '{"model": "/unused", "prompt": "bench", "seeds": [%s], "width": 16, "height": 16, "frames": 5, "steps": 1, "output": "%s/o%s/v.y4m"}\n' "$seeds" "$tmp" "$W" > "$tmp/d.json"
  t0=$(now)
  "$ff" submit "$tmp/d.json" --connect "$ep" --wait --timeout 60 >/dev/null 2>>"$tmp/client.log"
  t1=$(now); dt=$(db_span "$st" "$(echo "$t1 - $t0" | bc -l)")
  echo "| $W | $N | $(printf '%.3f' "$dt") | $(echo "$N / $dt" | bc -l | xargs printf '%.0f') |"
  stop_all
done
echo
echo "## end to end: tiny model jobs per hour (64x64, 17 frames, 10 steps, CPU, --threads 1 per worker)"
echo
"$ff" init-model tiny "$tmp/tiny" >/dev/null
echo "| workers | jobs | seconds | jobs/hour |"
echo "| ---: | ---: | ---: | ---: |"
for W in 1 2; do
  st="$tmp/st-e$W"; mkdir -p "$tmp/e$W"
  start_coord "$st"; start_workers "$W"
  t0=$(now); ids=""
  for j in $(seq 1 "$J"); do
    printf '{"model": "%s", "prompt": "a lighthouse in a storm, job %s", "seed": %s, "width": 64, "height": 64, "frames": 17, "steps": 10, "output": "%s/e%s/j%s.y4m"}\n' "$tmp/tiny" "$j" "$j" "$tmp" "$W" "$j" > "$tmp/e.json"
    ids="$ids $("$ff" submit "$tmp/e.json" --connect "$ep" 2>>"$tmp/client.log")"
  done
  for id in $ids; do
    while :; do
      s=$("$ff" status "$id" --connect "$ep" --json | sed -n 's/.*"state": "\([a-z]*\)".*"name".*/\1/p')
      case "$s" in done) break ;; failed|cancelled) echo "job $id $s"; exit 1 ;; esac
      sleep 0.1
    done
  done
  t1=$(now); dt=$(db_span "$st" "$(echo "$t1 - $t0" | bc -l)")
  echo "| $W | $J | $(printf '%.2f' "$dt") | $(echo "$J * 3600 / $dt" | bc -l | xargs printf '%.0f') |"
  stop_all
done
echo
echo "Per task the coordinator checks (inflates) the frames, fsyncs the chunk file and commits its SQLite row before"
echo "the chunk counts as done. Machine shared with other jobs while measuring (2 cores for coordinator, workers"
echo "and everything else): numbers are indicative."
} > "$out"
