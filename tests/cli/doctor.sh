#!/bin/sh
# framefarm doctor prints version, backends, driver, devices, cores, memory,
# libraries; refuses arguments it does not know; without any NVIDIA driver it
# says so (not "driver version is insufficient", the CUDA runtime's words).
set -u
ff="$1"
out=$("$ff" doctor) || { echo "doctor exited $?"; exit 1; }
echo "$out"
for want in "framefarm " "backends:" "cpu " "cuda " "nvidia driver:" "cuda devices:" "cpu cores:" "memory:" "libraries:"; do
  echo "$out" | grep -q "$want" || { echo "missing '$want' in doctor output"; exit 1; }
done
# no device: the reason is spelled out
if echo "$out" | grep -q "cuda devices: 0"; then
  echo "$out" | grep -q "no CUDA device: " || { echo "no reason given for missing CUDA device"; exit 1; }
fi
# no driver at all (no kernel module, no libcuda): named as such
if [ ! -e /proc/driver/nvidia/version ] && ! ldconfig -p 2>/dev/null | grep -q "libcuda.so.1 "; then
  echo "$out" | grep -q "nvidia driver: no NVIDIA driver" || { echo "a machine without a driver is not called that"; exit 1; }
  if ! echo "$out" | grep -q "cuda  *not built"; then
    echo "$out" | grep -q "no CUDA device: no NVIDIA driver" || { echo "the device line does not say 'no NVIDIA driver'"; exit 1; }
  fi
  echo "$out" | grep -qi "insufficient" && { echo "'insufficient' for a machine without a driver"; exit 1; }
fi
"$ff" doctor --verbose >/dev/null 2>"${TMPDIR:-/tmp}/doctor.err.$$"; rc=$?
err=$(cat "${TMPDIR:-/tmp}/doctor.err.$$"); rm -f "${TMPDIR:-/tmp}/doctor.err.$$"
[ "$rc" -eq 2 ] || { echo "doctor --verbose exited $rc, want 2"; exit 1; }
echo "$err" | grep -q "unknown argument '--verbose'" || { echo "unknown argument not named: $err"; exit 1; }
"$ff" nonsense >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || { echo "unknown command exited $rc, want 2"; exit 1; }
echo "ok"
