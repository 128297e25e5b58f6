# The local one-node Slurm (cluster/slurm/local/): start.sh brings up munged,
# slurmctld and slurmd; an `sbatch --wrap` job and a 4-task array run to
# COMPLETED with their output; stop.sh ends every daemon by its PID.
set -u
. "$(dirname "$0")/lib.inc"
need_local_slurm
make_tmp
start_slurm
[ -f "$T/slurm/pids" ] || fail "no pids file"
pids="$(awk '{print $2}' "$T/slurm/pids")"
[ "$(echo "$pids" | wc -w)" -eq 3 ] || fail "expected 3 daemons in pids: $pids"

cd "$T" || fail "cd"
j1="$(sbatch --parsable -o "$T/wrap-%j.out" --wrap 'echo wrap-ok on $(hostname -s)')" || fail "sbatch --wrap"
j2="$(sbatch --parsable --array=0-3 -o "$T/arr-%A_%a.out" --wrap 'echo task $SLURM_ARRAY_TASK_ID')" || fail "sbatch --array"
wait_gone 120 "$j1" "$j2"
st="$(final_states "$j1" "$j2")"
[ "$st" = "COMPLETED" ] || fail "jobs ended as '$st', not COMPLETED"
grep -q "^wrap-ok on $(hostname -s)" "$T/wrap-$j1.out" || fail "wrap output: $(cat "$T/wrap-$j1.out")"
for i in 0 1 2 3; do
  grep -qx "task $i" "$T/arr-${j2}_$i.out" || fail "array task $i output missing"
done
[ "$(grep -c "JobState=COMPLETED" "$T/slurm/log/jobcomp.txt")" -eq 5 ] || fail "jobcomp log: 5 COMPLETED records expected"

"$LOCAL/stop.sh" "$T/slurm" || fail "stop.sh"
for p in $pids; do
  if kill -0 "$p" 2>/dev/null; then fail "daemon $p still running after stop.sh"; fi
done
[ -f "$T/slurm/pids.stopped" ] || fail "stop.sh did not retire the pids file"
"$LOCAL/stop.sh" "$T/slurm" || fail "stop.sh is not idempotent"
echo "local Slurm: --wrap and --array=0-3 COMPLETED, daemons stopped"
