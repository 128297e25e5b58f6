#!/bin/sh
# --device N on golden and render: the CUDA device cuda:N (the ordinal after
# CUDA_VISIBLE_DEVICES). Contradicting --backend and non-ordinals are usage
# errors (exit 2, one line); without a GPU --device 0 says why in one line
# (exit 2); with one, --device 0 runs on cuda:0, --device 99 is refused and
# CUDA_VISIBLE_DEVICES= hides every device.
set -u
ff="$1"; golden="$2"
case_dir="$golden/cases/rng_randn_s0_16"
expect_usage() { # expect_usage WHAT PATTERN CMD...
  what=$1; pat=$2; shift 2
  err=$("$@" 2>&1 >/dev/null); rc=$?
  [ "$rc" -eq 2 ] || { echo "$what: exit $rc, want 2 ($err)"; exit 1; }
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || { echo "$what: want one line, got: $err"; exit 1; }
  printf '%s' "$err" | grep -qE "$pat" || { echo "$what: message '$err' lacks /$pat/"; exit 1; }
}
expect_usage "golden cpu + device" "contradicts --backend cpu" "$ff" golden --backend cpu --device 0 /nonexistent
expect_usage "golden cuda:1 + device 0" "contradicts --backend cuda:1" "$ff" golden --backend cuda:1 --device 0 /nonexistent
expect_usage "golden device x" "want a CUDA device ordinal" "$ff" golden --device x /nonexistent
expect_usage "golden device -1" "want a CUDA device ordinal" "$ff" golden --device -1 /nonexistent
expect_usage "render cpu + device" "contradicts --backend cpu" "$ff" render --prompt p --out /tmp/ff-never.y4m \
  --backend cpu --device 0
expect_usage "render device 1x" "want a CUDA device ordinal" "$ff" render --prompt p --out /tmp/ff-never.y4m --device 1x

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$ff" init-model tiny "$tmp/tiny" >/dev/null || { echo "init-model failed"; exit 1; }
render() { "$ff" render --model "$tmp/tiny" --prompt p --frames 1 --height 16 --width 16 --steps 1 "$@"; }
[ -d "$case_dir" ] || { echo "SKIP: $golden absent"; exit 77; }
if "$ff" doctor | grep -q "cuda devices: [1-9]"; then
  out=$("$ff" golden --device 0 "$case_dir") || { echo "golden --device 0 failed: $out"; exit 1; }
  echo "$out"
  echo "$out" | tail -n 1 | grep -q "(backend cuda:0)" || { echo "--device 0 did not run on cuda:0"; exit 1; }
  out=$("$ff" golden --backend cuda --device 0 "$case_dir") || { echo "--backend cuda --device 0 failed"; exit 1; }
  expect_usage "golden device 99" "no CUDA device: cuda:99 requested" "$ff" golden --device 99 "$case_dir"
  expect_usage "CUDA_VISIBLE_DEVICES=" "no CUDA device" env CUDA_VISIBLE_DEVICES= "$ff" golden --device 0 "$case_dir"
  out=$(render --device 0 --out "$tmp/g.y4m" 2>/dev/null) || { echo "render --device 0 failed"; exit 1; }
  echo "$out" | grep -q "backend cuda:0" || { echo "render --device 0 did not run on cuda:0: $out"; exit 1; }
else
  expect_usage "golden device 0 without a GPU" "no CUDA device|built without CUDA" "$ff" golden --device 0 "$case_dir"
  expect_usage "render device 0 without a GPU" "no CUDA device|built without CUDA" render --device 0 \
    --out "$tmp/never.y4m"
fi
echo "ok"
