# An MPI job on the local Slurm: `framefarm slurm submit --mpi --ntasks 2`
# writes mpi.sbatch and submits it; Open MPI's mpirun starts 2 ranks of
# `framefarm mpi` inside the allocation; the job is COMPLETED and ffprobe
# reads the video (H.264, 64x64, 17 frames). Skips until `framefarm mpi`
# exists.
set -u
. "$(dirname "$0")/lib.inc"
need_local_slurm
command -v ffprobe >/dev/null 2>&1 || skip "ffprobe not installed"
command -v mpirun >/dev/null 2>&1 || skip "mpirun not installed (openmpi-bin)"
"$FF" help 2>/dev/null | grep -q "^  slurm " || skip "framefarm has no 'slurm' command (farm not built)"
"$FF" help 2>/dev/null | grep -q "^  mpi " || skip "framefarm has no 'mpi' command yet (cluster/mpi_*, cli/cmd_mpi.c)"
make_tmp
"$FF" init-model tiny "$T/model" >/dev/null || fail "init-model tiny"
mkdir -p "$T/out"
cat >"$T/job.json" <<JOB
{"model": "$T/model", "prompt": "a lighthouse at dusk", "seed": 9, "width": 64, "height": 64, "frames": 17,
 "steps": 3, "output": "$T/out/video.mp4"}
JOB
start_slurm

out="$("$FF" slurm submit "$T/job.json" --mpi --ntasks 2 --run "$T/run" --gres none --cpus-per-worker 1)" ||
  fail "framefarm slurm submit --mpi"
echo "$out"
id="$(echo "$out" | awk '$1 == "mpi" {print $2}')"
[ -n "$id" ] || fail "no mpi job id in: $out"
wait_gone 600 "$id"
st="$(final_states "$id")"
[ "$st" = "COMPLETED" ] || fail "the MPI job ended as '$st', not COMPLETED"
v="$T/out/video.mp4"
info="$(ffprobe -v error -count_frames -select_streams v:0 \
        -show_entries stream=codec_name,width,height,nb_read_frames -of default=nw=1 "$v")" || fail "ffprobe $v"
for want in codec_name=h264 width=64 height=64 nb_read_frames=17; do
  echo "$info" | grep -qx "$want" || fail "$v: expected $want, ffprobe says: $(echo "$info" | tr '\n' ' ')"
done
echo "MPI job on Slurm: 2 ranks, one video of 17 frames, COMPLETED"
