#!/bin/sh
# bench/farm_threads.sh BUILD_DIR [OUT.md]: `framefarm farm --workers 2` on a
# 4-item job of the embedded tiny model against 4 single-thread renders of
# the same items (issue 21, "Threads"), as a markdown table (never a
# pass/fail test; tests/cli/farm_threads.sh checks the thread counts).
#
# Rows: the 4 renders one after another with --threads 1 (wall, CPU = user +
# sys); farm --workers 2 with its default threads (each worker its share of
# the usable cores, core/ff_cpus.h); farm --workers 2 --threads C (every
# worker on every core: the old default). Target (issue 21): farm's wall time
# <= 1.2 x (CPU time of the 4 single-thread renders) / cores. The farm rows'
# CPU time includes the coordinator's and the workers' (children waited for).
# Size: FF_BENCH_SIZE (default 192) square, FF_BENCH_FRAMES (17), FF_BENCH_STEPS (10).
set -eu
build="${1:?usage: bench/farm_threads.sh BUILD_DIR [OUT.md]}"
out="${2:-/dev/stdout}"
ff="$build/framefarm"
[ -x "$ff" ] || { echo "no $ff"; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (GNU time)"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
S=${FF_BENCH_SIZE:-192}; F=${FF_BENCH_FRAMES:-17}; N=${FF_BENCH_STEPS:-10}
cores=$(nproc)
"$ff" init-model tiny "$tmp/tiny" >/dev/null
timed() { # label file, command...: "wall cpu" into the file
  f=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$tmp/t" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
  awk '{printf "%.2f %.2f\n", $1, $2 + $3}' "$tmp/t" >"$f"
}
# 4 single-thread renders
rw=0; rc=0
for i in 0 1 2 3; do
  timed "$tmp/r$i" "$ff" render --model "$tmp/tiny" --prompt "item $i" --seed $i --threads 1 --width "$S" --height "$S" \
    --frames "$F" --steps "$N" --out "$tmp/r$i.y4m"
  rw=$(awk -v a="$rw" '{print a + $1}' "$tmp/r$i"); rc=$(awk -v a="$rc" '{print a + $2}' "$tmp/r$i")
done
printf '{"model": "%s/tiny", "prompts": ["item 0", "item 1", "item 2", "item 3"], "seeds": [0, 1, 2, 3], "width": %d, "height": %d, "frames": %d, "steps": %d, "output": "%s/f.y4m"}\n' \
  "$tmp" "$S" "$S" "$F" "$N" "$tmp" >"$tmp/job.json"
timed "$tmp/fd" "$ff" farm --workers 2 "$tmp/job.json"
share=$(grep -o "with [0-9+]* CPU threads\{0,1\} each" "$tmp/err" | head -1)
timed "$tmp/fo" "$ff" farm --workers 2 --threads "$cores" "$tmp/job.json"
for i in 0 1 2 3; do cmp -s "$tmp/r$i.y4m" "$tmp/f_000$i.y4m" || echo "note: item $i differs from its render" >&2; done
target=$(awk -v c="$rc" -v n="$cores" 'BEGIN {printf "%.2f", 1.2 * c / n}')
{
  echo "# farm --workers 2 vs single-thread renders"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $cores cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "command: sh bench/farm_threads.sh $build; job: 4 items of the tiny model, ${S}x${S}, $F frames, $N steps"
  echo
  echo "| run | wall s | CPU s | wall / target |"
  echo "| --- | ---: | ---: | ---: |"
  echo "| 4 renders, --threads 1, one after another | $rw | $rc | |"
  awk -v t="$target" -v s="$share" '{printf "| farm --workers 2 (default: %s) | %s | %s | %.2f |\n", s, $1, $2, $1 / t}' "$tmp/fd"
  awk -v t="$target" -v c="$cores" '{printf "| farm --workers 2 --threads %s (every worker on every core) | %s | %s | %.2f |\n", c, $1, $2, $1 / t}' "$tmp/fo"
  echo
  echo "target (issue 21): farm wall <= 1.2 x $rc s / $cores cores = $target s (wall / target <= 1 meets it)."
} >"$out"
