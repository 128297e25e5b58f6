#!/bin/bash
# Starts a one-node Slurm on this machine (munged, slurmctld, slurmd) for
# tests and for trying framefarm's batch scripts; as root, without systemd
# or cgroups (Debian 12: apt-get install slurm-wlm munge).
#
#   eval "$(cluster/slurm/local/start.sh [DIR])"    # exports SLURM_CONF and FF_SLURM_LOCAL
#   sbatch --wrap hostname ...
#   cluster/slurm/local/stop.sh "$FF_SLURM_LOCAL"
#
# DIR (default: a new /tmp/ff-slurm.XXXXXX) receives the config, the munge
# key, state, spool, pid and log files; DIR/pids lists "NAME PID" of every
# daemon started, which stop.sh ends by PID. The node is `hostname -s` with
# this machine's core count. On failure, everything already started is
# stopped again and the log tails are printed.
# Env: FF_SLURM_CTLD_PORT (default 16817), FF_SLURM_SLURMD_PORT (16818),
#      FF_SLURM_START_TIMEOUT seconds to wait for the node (default 120).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"

die() { echo "slurm-local start: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (slurmd and munged need it)"
for b in munged slurmctld slurmd sbatch scontrol sinfo setpriv; do
  command -v "$b" >/dev/null 2>&1 || die "'$b' not found: install Slurm and munge (apt-get install slurm-wlm munge)"
done
getent passwd munge >/dev/null || die "no 'munge' user (install the munge package)"

dir="${1:-}"
if [ -z "$dir" ]; then
  dir="$(mktemp -d /tmp/ff-slurm.XXXXXX)"
else
  mkdir -p "$dir"
fi
dir="$(cd "$dir" && pwd)"
[ -e "$dir/pids" ] && die "$dir/pids exists: a local Slurm may already run there (stop.sh $dir)"
# munged runs as user munge and must traverse DIR; the socket path must be short
chmod 755 "$dir"
[ ${#dir} -lt 80 ] || die "directory path too long for the munge socket: $dir"
mkdir -p "$dir/state" "$dir/spool" "$dir/run" "$dir/log" "$dir/munge"
: >"$dir/pids"

host="$(hostname -s)"
cpus="$(nproc)"
ctld_port="${FF_SLURM_CTLD_PORT:-16817}"
slurmd_port="${FF_SLURM_SLURMD_PORT:-16818}"
timeout="${FF_SLURM_START_TIMEOUT:-120}"
export SLURM_CONF="$dir/slurm.conf"

fail() {
  echo "slurm-local start: $*" >&2
  for f in munge/munged.log log/slurmctld.log log/slurmd.log; do
    [ -s "$dir/$f" ] && { echo "--- $dir/$f (tail)" >&2; tail -n 20 "$dir/$f" >&2; }
  done
  "$here/stop.sh" "$dir" >&2 || true
  exit 1
}

sed -e "s|@DIR@|$dir|g" -e "s|@HOST@|$host|g" -e "s|@CPUS@|$cpus|g" \
    -e "s|@CTLD_PORT@|$ctld_port|g" -e "s|@SLURMD_PORT@|$slurmd_port|g" \
    "$here/slurm.conf.in" >"$SLURM_CONF"

# munge: a fresh key, owned by munge, socket and logs in DIR/munge
chown munge:munge "$dir/munge"
chmod 755 "$dir/munge"  # munged: clients need execute on the socket directory
if command -v mungekey >/dev/null 2>&1; then
  mungekey --create --keyfile="$dir/munge/munge.key" --force >/dev/null 2>&1 || fail "mungekey failed"
else
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 2>/dev/null
fi
chown munge:munge "$dir/munge/munge.key"
chmod 400 "$dir/munge/munge.key"
# the socket directory must be reachable by clients (root here) and munged
setpriv --reuid=munge --regid=munge --init-groups \
  munged -F --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
  --seed-file="$dir/munge/munged.seed" </dev/null >>"$dir/log/munged.out" 2>&1 &
echo "munged $!" >>"$dir/pids"

deadline=$(( $(date +%s) + timeout ))
until [ -S "$dir/munge/munge.socket" ]; do
  kill -0 "$(awk '$1=="munged"{print $2}' "$dir/pids")" 2>/dev/null || fail "munged exited (see $dir/log/munged.out)"
  [ "$(date +%s)" -lt "$deadline" ] || fail "munged did not create its socket within ${timeout}s"
  sleep 0.2
done

slurmctld -D -i -f "$SLURM_CONF" </dev/null >>"$dir/log/slurmctld.out" 2>&1 &
echo "slurmctld $!" >>"$dir/pids"
slurmd -D -f "$SLURM_CONF" -N "$host" </dev/null >>"$dir/log/slurmd.out" 2>&1 &
echo "slurmd $!" >>"$dir/pids"

# ready when the controller answers and the node is idle
until state="$(sinfo -h -n "$host" -o %t 2>/dev/null)" && [ "$state" = "idle" ]; do
  while read -r name pid; do
    kill -0 "$pid" 2>/dev/null || fail "$name exited (see $dir/log/$name.out and $name.log)"
  done <"$dir/pids"
  [ "$(date +%s)" -lt "$deadline" ] || fail "node $host not idle within ${timeout}s (state: '${state:-}')"
  sleep 0.5
done

echo "slurm-local: up in $dir (node $host, $cpus CPUs)" >&2
printf 'SLURM_CONF=%s; export SLURM_CONF\nFF_SLURM_LOCAL=%s; export FF_SLURM_LOCAL\n' "$SLURM_CONF" "$dir"
