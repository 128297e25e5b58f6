#!/bin/sh
# framefarm doctor prints version, backends, devices, cores, memory, libraries.
set -u
ff="$1"
out=$("$ff" doctor) || { echo "doctor exited $?"; exit 1; }
echo "$out"
for want in "framefarm " "backends:" "cpu " "cuda " "cuda devices:" "cpu cores:" "memory:" "libraries:"; do
  echo "$out" | grep -q "$want" || { echo "missing '$want' in doctor output"; exit 1; }
done
# no device: the reason is spelled out
if echo "$out" | grep -q "cuda devices: 0"; then
  echo "$out" | grep -q "no CUDA device: " || { echo "no reason given for missing CUDA device"; exit 1; }
fi
"$ff" nonsense >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || { echo "unknown command exited $rc, want 2"; exit 1; }
echo "ok"
