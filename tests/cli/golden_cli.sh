#!/bin/sh
# The golden runner's contract: PASS/FAIL/SKIP lines, a summary, exit codes.
set -u
ff="$1"; golden="$2"
"$ff" golden --skip-if-missing /nonexistent/golden >/dev/null; rc=$?
[ "$rc" -eq 77 ] || { echo "missing root with --skip-if-missing exited $rc, want 77"; exit 1; }
"$ff" golden /nonexistent/golden 2>/dev/null; rc=$?
[ "$rc" -eq 2 ] || { echo "missing root exited $rc, want 2"; exit 1; }
[ -d "$golden/cases" ] || { echo "SKIP: $golden absent"; exit 77; }
out=$("$ff" golden --filter ^rng_ "$golden"); rc=$?
echo "$out"
[ "$rc" -eq 0 ] || { echo "rng cases exited $rc"; exit 1; }
echo "$out" | grep -q "^PASS rng_randn_s0_16 rel_l2=" || { echo "no PASS line for rng_randn_s0_16"; exit 1; }
echo "$out" | tail -n 1 | grep -qE "^[0-9]+ passed, 0 failed, 0 skipped" || { echo "bad summary line"; exit 1; }
# a single case folder works too
"$ff" golden "$golden/cases/rng_randn_sequence_s99" | grep -q "^PASS rng_randn_sequence_s99" || { echo "case folder run failed"; exit 1; }
# a corrupted expected file is a FAIL with exit 1, never a crash
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/cases/rng_randn_s0_7"
cp "$golden/cases/rng_randn_s0_7/case.json" "$tmp/cases/rng_randn_s0_7/"
head -c 40 "$golden/cases/rng_randn_s0_7/expected.safetensors" > "$tmp/cases/rng_randn_s0_7/expected.safetensors"
out=$("$ff" golden "$tmp"); rc=$?
echo "$out"
[ "$rc" -eq 1 ] || { echo "truncated expected exited $rc, want 1"; exit 1; }
echo "$out" | grep -q "^FAIL rng_randn_s0_7" || { echo "no FAIL line"; exit 1; }
echo "ok"
