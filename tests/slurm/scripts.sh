# `framefarm slurm submit --dry-run`: the run directory and its scripts
# (no Slurm needed): #SBATCH lines (array, GRES by default and without it
# with --gres none, MPI ranks), variables, the prompts file merged into
# job.json with absolute paths, scripts that parse (sh -n); and the errors:
# no sbatch on PATH, bad job file, missing output folder, a run directory in
# use, unsafe extra arguments.
set -u
. "$(dirname "$0")/lib.inc"
"$FF" help 2>/dev/null | grep -q "^  slurm " || skip "framefarm has no 'slurm' command (farm not built)"
make_tmp
cd "$T" || fail "cd"
mkdir -p model out
cat >job.json <<'JOB'
{"model": "model", "prompt": "one", "seed": 5, "width": 64, "height": 64, "frames": 9, "steps": 2,
 "output": "out/v.mp4", "name": "dry"}
JOB
printf 'first prompt\n\n# a comment\n  second "quoted" prompt  \n' >prompts.txt

# --- a farm run, default GRES
"$FF" slurm submit job.json --workers 3 --prompts prompts.txt --run runs/a --dry-run >a.out 2>a.err ||
  fail "dry run: $(cat a.err)"
grep -qx "run $T/runs/a" a.out || fail "no 'run DIR' line: $(cat a.out)"
grep -q "^coordinator sbatch --parsable $T/runs/a/coordinator.sbatch$" a.out || fail "coordinator command: $(cat a.out)"
grep -q "^workers sbatch --parsable --dependency=after:<coordinator> .*$T/runs/a/workers.sbatch$" a.out ||
  fail "workers command: $(cat a.out)"
grep -q "^submit sbatch .*$T/runs/a/submit.sbatch$" a.out || fail "submit command: $(cat a.out)"
for s in coordinator workers submit; do
  f="runs/a/$s.sbatch"
  [ -x "$f" ] || fail "$f not written"
  sh -n "$f" || fail "$f does not parse"
  if grep -q '^umask 0*77' "$f"; then fail "$f sets umask 077 (videos would be 0600)"; fi
  [ "$(head -n 1 "$f")" = "#!/bin/sh" ] || fail "$f: shebang"
  grep -qx "#SBATCH --job-name=ff-a" "$f" || fail "$f: job name"
  grep -qx "FF_RUN='$T/runs/a'" "$f" || fail "$f: FF_RUN"
  # the #SBATCH block comes first (sbatch stops reading at the first command)
  last_sbatch=$(grep -n '^#SBATCH' "$f" | tail -n 1 | cut -d: -f1)
  first_cmd=$(grep -n -v '^#' "$f" | head -n 1 | cut -d: -f1)
  [ "$last_sbatch" -lt "$first_cmd" ] || fail "$f: #SBATCH line after a command"
done
grep -qx "#SBATCH --array=0-2" runs/a/workers.sbatch || fail "workers: array"
grep -qx "#SBATCH --gres=gpu:1" runs/a/workers.sbatch || fail "workers: default --gres=gpu:1 missing"
[ "$(grep -c '^#SBATCH --gres' runs/a/workers.sbatch)" -eq 1 ] || fail "workers: more than one --gres line"
grep -q "^#SBATCH --gres" runs/a/coordinator.sbatch && fail "the coordinator asks for a GPU"
grep -qx "FF_JOB='$T/runs/a/job.json'" runs/a/submit.sbatch || fail "submit: FF_JOB"
grep -qx "FF_OUTPUT_ROOT='$T/out'" runs/a/coordinator.sbatch || fail "coordinator: FF_OUTPUT_ROOT (the output's folder)"
[ "$(stat -c %a runs/a)" = 700 ] || fail "run directory is not private (it holds the CURVE secret key)"
grep -q "\"model\": \"$T/model\"" runs/a/job.json || fail "model path not absolute: $(cat runs/a/job.json)"
grep -q "\"output\": \"$T/out/v.mp4\"" runs/a/job.json || fail "output path not absolute"
grep -q '"prompts": \["first prompt",' runs/a/job.json || fail "prompts not merged: $(cat runs/a/job.json)"
grep -q '"second \\"quoted\\" prompt"\]' runs/a/job.json || fail "second prompt: $(cat runs/a/job.json)"
grep -q '"prompt":' runs/a/job.json && fail "the job's own prompt was kept"

# --- GRES from the environment and --gres none; extra arguments
FF_SLURM_GRES=gpu:a100:1 "$FF" slurm submit job.json --workers 1 --run runs/b --dry-run >/dev/null 2>&1 || fail "run b"
grep -qx "#SBATCH --gres=gpu:a100:1" runs/b/workers.sbatch || fail "FF_SLURM_GRES not used"
"$FF" slurm submit job.json --workers 2 --run runs/c --gres none --cpus-per-worker 1 --sbatch-arg --partition=gpu \
  --worker-arg --vram-budget --worker-arg 20G --insecure --port 6000 --dry-run >/dev/null 2>&1 || fail "run c"
grep -q "^#SBATCH --gres" runs/c/workers.sbatch && fail "--gres none still asks for a GRES"
grep -qx "#SBATCH --cpus-per-task=1" runs/c/workers.sbatch || fail "--cpus-per-worker"
for s in coordinator workers submit; do
  grep -qx "#SBATCH --partition=gpu" "runs/c/$s.sbatch" || fail "$s: --sbatch-arg"
done
grep -qx "FF_WORKER_ARGS='--vram-budget 20G'" runs/c/workers.sbatch || fail "--worker-arg"
grep -qx "FF_INSECURE='1'" runs/c/coordinator.sbatch || fail "--insecure"
grep -qx "FF_PORT='6000'" runs/c/coordinator.sbatch || fail "--port"

# --- an MPI job
"$FF" slurm submit job.json --mpi --ntasks 4 --nodes 2 --run runs/m --dry-run >m.out 2>&1 || fail "mpi: $(cat m.out)"
sh -n runs/m/mpi.sbatch || fail "mpi.sbatch does not parse"
grep -qx "#SBATCH --ntasks=4" runs/m/mpi.sbatch || fail "mpi: ntasks"
grep -qx "#SBATCH --nodes=2" runs/m/mpi.sbatch || fail "mpi: nodes"
grep -qx "#SBATCH --gpus-per-task=1" runs/m/mpi.sbatch || fail "mpi: one GPU per rank"
grep -qx "FF_LAUNCH='mpirun'" runs/m/mpi.sbatch || fail "mpi: launcher"
[ -e runs/m/workers.sbatch ] && fail "mpi run wrote farm scripts"

# --- errors
expect_error() { # expect_error CODE PATTERN ARGS...
  code="$1" pat="$2"
  shift 2
  "$@" >err.out 2>&1
  rc=$?
  [ $rc -eq "$code" ] || fail "'$*' exited $rc, not $code: $(cat err.out)"
  grep -q -- "$pat" err.out || fail "'$*': no '$pat' in: $(cat err.out)"
}
expect_error 2 "sbatch not found on PATH" env PATH=/nonexistent "$FF" slurm submit job.json --workers 2 --run runs/d
expect_error 2 "give --workers N" "$FF" slurm submit job.json --run runs/e --dry-run
expect_error 2 "already holds a run" "$FF" slurm submit job.json --workers 1 --run runs/a --dry-run
echo '{"model": "model", "prompt": "x", "seed": 1, "output": "nowhere/v.mp4"}' >noout.json
expect_error 2 "output folder" "$FF" slurm submit noout.json --workers 1 --run runs/f --dry-run
echo '{"model": "model", "prompt": "x", "seed": 1, "output": "out/v.mp4", "stpes": 3}' >typo.json
expect_error 2 "stpes" "$FF" slurm submit typo.json --workers 1 --run runs/g --dry-run
printf '\n# nothing\n' >empty.txt
expect_error 2 "has no prompts" "$FF" slurm submit job.json --workers 1 --prompts empty.txt --run runs/h --dry-run
expect_error 2 "one word" "$FF" slurm submit job.json --workers 1 --worker-arg 'a b' --run runs/i --dry-run
expect_error 2 "bad --gres" "$FF" slurm submit job.json --workers 1 --gres 'gpu:1;rm' --run runs/j --dry-run
echo "slurm submit --dry-run: scripts, job and errors as expected"
