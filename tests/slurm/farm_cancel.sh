# scancel of a farm run on the local Slurm: the workers stall mid-chunk (a
# worker test mode), the job is seen running, `scancel --name ff-RUN`
# cancels all three Slurm jobs. Then: every Slurm job CANCELLED, the run
# records "cancelled", no video (nor partial video) at the output path,
# and a coordinator started again on the run's state reports the farm job
# cancelled (`framefarm status`).
set -u
. "$(dirname "$0")/lib.inc"
need_local_slurm
need_farm
make_tmp
"$FF" init-model tiny "$T/model" >/dev/null || fail "init-model tiny"
mkdir -p "$T/out"
cat >"$T/job.json" <<JOB
{"model": "$T/model", "prompt": "never finished", "seed": 3, "width": 64, "height": 64, "frames": 33,
 "steps": 3, "chunking": {"frames": 17, "overlap": 4}, "output": "$T/out/video.mp4"}
JOB
start_slurm

out="$("$FF" slurm submit "$T/job.json" --workers 2 --run "$T/run" --gres none --cpus-per-worker 1 \
        --worker-arg --test-stall-step --worker-arg 1)" || fail "framefarm slurm submit"
echo "$out"
ids="$(echo "$out" | awk '$1 != "run" {print $2}' | tr '\n' ' ')"

# wait until a worker holds a chunk of the submitted job (it stalls there)
end=$(( $(date +%s) + 300 ))
job=""
while :; do
  [ "$(date +%s)" -lt "$end" ] || fail "the farm job never had a running chunk"
  [ -e "$T/run/done" ] && fail "the run ended early: $(cat "$T/run/done")"
  job="$(cat "$T/run/farm.job" 2>/dev/null)"
  ep="$(cat "$T/run/coordinator.endpoint" 2>/dev/null)"
  if [ -n "$job" ] && [ -n "$ep" ]; then
    s="$("$FF" status "$job" --json --connect "$ep" --server-key "$T/run/coordinator.pub" --timeout 5 2>/dev/null)"
    case "$s" in *'"state": "running", "worker": "w-'*) break ;; esac
  fi
  sleep 1
done
echo "farm job $job is rendering; scancel --name ff-run"
scancel --name ff-run || fail "scancel"

wait_gone 300 $ids
st="$(final_states $ids)"
[ "$st" = "CANCELLED" ] || fail "Slurm jobs ended as '$st', not CANCELLED"
[ "$(cat "$T/run/done" 2>/dev/null)" = "cancelled" ] || fail "run/done says '$(cat "$T/run/done" 2>/dev/null)'"
[ -e "$T/out/video.mp4" ] && fail "a video exists at the output path"
partial="$(ls "$T/out")"
[ -z "$partial" ] || fail "files left in the output folder: $partial"

# the state, read by a coordinator started again on it (loopback, any port)
rm -f "$T/run/state/endpoint"
"$FF" coordinator --state "$T/run/state" --bind 'tcp://127.0.0.1:*' --log-level warn 2>"$T/coord-after.log" &
cpid=$!
n=0
while [ ! -s "$T/run/state/endpoint" ] && kill -0 "$cpid" 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
s="$("$FF" status "$job" --json --connect "$(cat "$T/run/state/endpoint" 2>/dev/null)" --timeout 10)"
rc=$?
kill -TERM "$cpid" 2>/dev/null
wait "$cpid"
[ $rc -eq 0 ] || fail "framefarm status on the restarted coordinator failed ($rc): $(cat "$T/coord-after.log")"
case "$s" in
  *'"state": "cancelled"'*) ;;
  *) fail "farm job $job is not cancelled in the state: $s" ;;
esac
echo "scancel: Slurm jobs CANCELLED, farm job $job cancelled in the state, no video written"
