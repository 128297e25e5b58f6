#!/bin/sh
# The bf16 path (kernels/ops.h: FF_PREC_BF16): `framefarm golden --precision
# bf16` passes every transformer case at rel_l2 <= 1e-2 and says so in its
# summary, and the path really rounds (rel_l2 far above the F32 path's ~1e-7);
# a bad --precision is a usage error; `framefarm render --precision bf16`
# renders, to a video other than the F32 one.
set -u
ff="$1"; golden="$2"
"$ff" golden --precision fp8 /nonexistent 2>/dev/null; rc=$?
[ "$rc" -eq 2 ] || { echo "--precision fp8 exited $rc, want 2"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$ff" init-model tiny "$tmp/tiny" >/dev/null || { echo "init-model failed"; exit 1; }
run() { "$ff" render --model "$tmp/tiny" --prompt "A cat walks through a forest." --frames 5 --height 32 --width 48 \
        --steps 2 --seed 3 "$@" 2>/dev/null >/dev/null; }
run --out "$tmp/f32.y4m" || { echo "render f32 failed"; exit 1; }
run --precision bf16 --out "$tmp/bf16.y4m" || { echo "render --precision bf16 failed"; exit 1; }
cmp -s "$tmp/f32.y4m" "$tmp/bf16.y4m" && { echo "render --precision bf16 gave the F32 video"; exit 1; }
"$ff" render --model "$tmp/tiny" --prompt x --precision fp8 --out "$tmp/x.y4m" 2>/dev/null; rc=$?
[ "$rc" -eq 2 ] || { echo "render --precision fp8 exited $rc, want 2"; exit 1; }

[ -d "$golden/cases" ] || { echo "SKIP: $golden absent"; exit 77; }
out=$("$ff" golden --precision bf16 --filter ^transformer_ "$golden"); rc=$?
echo "$out"
[ "$rc" -eq 0 ] || { echo "golden --precision bf16 exited $rc"; exit 1; }
echo "$out" | grep -q "^FAIL" && { echo "FAIL lines"; exit 1; }
echo "$out" | tail -n 1 | grep -qE "^[1-9][0-9]* passed, 0 failed, 0 skipped \(backend cpu\) \(bf16 path, tolerance 1e-2\)$" ||
  { echo "bad summary line"; exit 1; }
# it rounds: the worst case is well above F32 noise (and within 1e-2, or it would have failed)
worst=$(echo "$out" | sed -n 's/^PASS .* rel_l2=\([0-9.e+-]*\)$/\1/p' | sort -g | tail -n 1)
awk -v w="$worst" 'BEGIN { exit !(w > 1e-4) }' || { echo "worst rel_l2 $worst: the bf16 path did not round"; exit 1; }
# the F32 path is unchanged: same cases, no suffix, F32 tolerances
out=$("$ff" golden --filter ^transformer_ "$golden") || { echo "f32 golden failed"; exit 1; }
echo "$out" | tail -n 1 | grep -qE "skipped \(backend cpu\)$" || { echo "f32 summary changed"; exit 1; }
echo "ok"
