# A rank lost mid-run ends the whole job, every rank non-zero, in bounded
# time, with a message naming what happened:
#  - kill -9 of rank 1 during the denoise: mpirun notices the dead rank and
#    stops the others ("exited on signal 9");
#  - kill -STOP of rank 1 (a hung peer) with --timeout 5: rank 0's watchdog
#    reports "no progress for 5 s" and exits 1, then mpirun stops the rest.
# Each case must be over within 60 s (the job alone would take minutes).
. "$(dirname "$0")/mpi_env.inc"
"$FF" init-model tiny "$T/tiny" >/dev/null || fail "init-model"
cat >"$T/job.json" <<JOB
{"model": "$T/tiny", "prompt": "a lighthouse", "frames": 17, "height": 64, "width": 64, "steps": 5000,
 "out": "$T/video.y4m"}
JOB

# alive PID: running or stopped (a zombie left for init to reap is gone)
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  st="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)"
  [ -n "$st" ] && [ "$st" != Z ]
}

# case SIGNAL [ARGS]: start 2 ranks, send SIGNAL to rank 1 after step 3, wait.
case_run() {
  sig="$1"; shift
  log="$T/fault_$sig.log"
  "$MPIRUN" --allow-run-as-root --oversubscribe -np 2 "$FF" mpi "$T/job.json" "$@" >"$log" 2>&1 &
  mpid=$!
  i=0
  until grep -q "denoise step 3/" "$log" 2>/dev/null; do
    i=$((i + 1)); [ $i -le 600 ] || { kill -9 $mpid; cat "$log"; fail "no progress before the fault"; }
    sleep 0.1
  done
  pids="$(sed -n 's/^rank [0-9]*\/2 pid \([0-9]*\):.*/\1/p' "$log")"
  r1="$(sed -n 's/^rank 1\/2 pid \([0-9]*\):.*/\1/p' "$log")"
  [ -n "$r1" ] && [ -n "$pids" ] || { kill -9 $mpid; cat "$log"; fail "rank pids not printed"; }
  t0=$(date +%s)
  kill -"$sig" "$r1"
  i=0
  while kill -0 $mpid 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 600 ]; then
      for p in $pids; do kill -9 "$p" 2>/dev/null; done; kill -9 $mpid
      cat "$log"; fail "SIG$sig: the job did not end within 60 s"
    fi
    sleep 0.1
  done
  wait $mpid; rc=$?
  dt=$(( $(date +%s) - t0 ))
  for p in $pids; do
    if alive "$p"; then kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; fail "SIG$sig: rank pid $p outlived the job"; fi
  done
  [ $rc -ne 0 ] || { cat "$log"; fail "SIG$sig: mpirun exited 0"; }
  echo "SIG$sig of rank 1: job over in ${dt} s, mpirun exit $rc, no rank left; messages:"
  grep -i "no progress\|signal\|killed\|abort" "$log" | head -5
}

case_run KILL
grep -qi "signal 9\|killed" "$T/fault_KILL.log" || { cat "$T/fault_KILL.log"; fail "SIGKILL: no message about the killed rank"; }
case_run STOP --timeout 5
grep -q "rank 0: no progress for" "$T/fault_STOP.log" || { cat "$T/fault_STOP.log"; fail "SIGSTOP: no watchdog message"; }
echo "PASS"
