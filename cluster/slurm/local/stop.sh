#!/bin/bash
# Stops the local Slurm that start.sh started in DIR: cancels every job it
# still holds (waiting up to KillWait for their clean-up), kills any job
# step process left over (by the PIDs slurmd lists), then ends slurmd,
# slurmctld and munged by the PIDs in DIR/pids. Idempotent; DIR is kept
# (its logs) unless --remove is given.
#
#   cluster/slurm/local/stop.sh DIR [--remove]
# Env: FF_SLURM_STOP_TIMEOUT seconds to wait for jobs and daemons (default 60).
set -u
dir="${1:-}"
[ -n "$dir" ] || { echo "usage: stop.sh DIR [--remove]" >&2; exit 2; }
[ -d "$dir" ] || { echo "slurm-local stop: no directory $dir" >&2; exit 1; }
timeout="${FF_SLURM_STOP_TIMEOUT:-60}"
export SLURM_CONF="$dir/slurm.conf"
pids="$dir/pids"

pid_of() { [ -f "$pids" ] && awk -v n="$1" '$1==n{print $2}' "$pids"; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

ctld="$(pid_of slurmctld)"
if alive "$ctld" && [ -f "$SLURM_CONF" ]; then
  jobs="$(squeue -h -o %A 2>/dev/null | sort -u)"
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null
    deadline=$(( $(date +%s) + timeout ))
    while [ -n "$(squeue -h -o %A 2>/dev/null)" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.5; done
  fi
fi
# job processes that outlived their job (slurmd knows them by PID)
if alive "$(pid_of slurmd)"; then
  for p in $(scontrol listpids 2>/dev/null | awk 'NR>1 && $1 ~ /^[0-9]+$/ {print $1}'); do
    kill -KILL "$p" 2>/dev/null
  done
fi

stop_one() {
  pid="$(pid_of "$1")"
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null
  deadline=$(( $(date +%s) + timeout ))
  while alive "$pid" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
  if alive "$pid"; then
    echo "slurm-local stop: $1 ($pid) ignored SIGTERM, killing it" >&2
    kill -KILL "$pid" 2>/dev/null
  fi
}
stop_one slurmd
stop_one slurmctld
stop_one munged
[ -f "$pids" ] && mv "$pids" "$pids.stopped"
if [ "${2:-}" = "--remove" ]; then
  rm -rf "$dir"
fi
exit 0
