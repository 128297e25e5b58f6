# A farm run on the local Slurm: `framefarm slurm submit` with the tiny
# model, a prompts file of two prompts (one farm job, two videos) and 2
# array workers; the coordinator, the workers and the submission run to
# COMPLETED, the run records "done", and ffprobe reads both videos (H.264,
# 64x64, 33 frames). Slurm is shut down on every exit.
set -u
. "$(dirname "$0")/lib.inc"
need_local_slurm
command -v ffprobe >/dev/null 2>&1 || skip "ffprobe not installed"
need_farm
make_tmp
umask 022 # outputs are created with the user's umask: 0644 here (checked below)
"$FF" init-model tiny "$T/model" >/dev/null || fail "init-model tiny"
mkdir -p "$T/out"
cat >"$T/job.json" <<JOB
{"model": "$T/model", "prompt": "replaced by the prompts file", "seed": 7,
 "width": 64, "height": 64, "frames": 33, "steps": 3,
 "chunking": {"frames": 17, "overlap": 4}, "output": "$T/out/video.mp4"}
JOB
printf '# two prompts, one farm job\na red boat on a misty lake\n\na cat on a wall\n' >"$T/prompts.txt"
start_slurm

out="$("$FF" slurm submit "$T/job.json" --workers 2 --prompts "$T/prompts.txt" --run "$T/run" \
        --gres none --cpus-per-worker 1)" || fail "framefarm slurm submit"
echo "$out"
ids="$(echo "$out" | awk '$1 != "run" {print $2}' | tr '\n' ' ')"
[ "$(echo "$ids" | wc -w)" -eq 3 ] || fail "expected 3 Slurm job ids, got '$ids'"
grep -q '^#SBATCH --array=0-1$' "$T/run/workers.sbatch" || fail "workers.sbatch: no --array=0-1"
if grep -q '^#SBATCH --gres' "$T/run/workers.sbatch"; then fail "workers.sbatch asks for a GRES with --gres none"; fi

wait_gone 600 $ids
st="$(final_states $ids)"
[ "$st" = "COMPLETED" ] || fail "Slurm jobs ended as '$st', not COMPLETED"
[ "$(cat "$T/run/done")" = "done" ] || fail "run/done says '$(cat "$T/run/done")'"
[ -e "$T/run/coordinator.endpoint" ] && fail "the endpoint file outlived the coordinator"
for i in 0000 0001; do
  v="$T/out/video_$i.mp4"
  [ -s "$v" ] || fail "no video $v"
  [ "$(stat -c %a "$v")" = 644 ] || fail "$v has mode $(stat -c %a "$v"), want 644 (umask 022)"
  info="$(ffprobe -v error -count_frames -select_streams v:0 \
          -show_entries stream=codec_name,width,height,nb_read_frames -of default=nw=1 "$v")" || fail "ffprobe $v"
  for want in codec_name=h264 width=64 height=64 nb_read_frames=33; do
    echo "$info" | grep -qx "$want" || fail "$v: expected $want, ffprobe says: $(echo "$info" | tr '\n' ' ')"
  done
done
grep -q "job 1 done (6 chunks)" "$T"/run/logs/coordinator-*.out || fail "coordinator log: no 'job 1 done (6 chunks)'"
echo "farm run on Slurm: 2 videos of 33 frames, every Slurm job COMPLETED"
