#!/bin/sh
# Asking for the CUDA backend where there is none: one line, exit code 2.
set -u
ff="$1"; golden="$2"
if "$ff" doctor | grep -q "cuda devices: [1-9]"; then
  echo "SKIP: this machine has a CUDA device"; exit 77
fi
[ -d "$golden/cases/rng_randn_s0_16" ] || { echo "SKIP: $golden absent"; exit 77; }
err=$("$ff" golden --backend cuda "$golden/cases/rng_randn_s0_16" 2>&1 >/dev/null); rc=$?
echo "stderr: $err"
[ "$rc" -eq 2 ] || { echo "exit code $rc, want 2"; exit 1; }
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || { echo "want exactly one line"; exit 1; }
printf '%s' "$err" | grep -qE "no CUDA device|built without CUDA" || { echo "message does not say why"; exit 1; }
echo "ok"
