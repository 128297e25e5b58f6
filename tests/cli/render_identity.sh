#!/bin/sh
# Byte identity of everything a refactoring must not change: the outputs of
# tests/cli/render_identity.inc (render under every offload strategy for the
# embedded tiny model and the golden Wan pipelines, tiled and sliced decodes,
# render's plan lines, `framefarm plan` of the real Wan configs, every golden
# case's computed outputs, mpirun on 2 ranks, a 2-worker farm job) hashed and
# compared with tests/cli/render_identity.sha256, which
# scripts/render_identity_digests.sh writes from a given commit's binary.
#
# Float results are only bit-reproducible on the same kind of CPU backend
# (OpenBLAS picks its kernels per CPU): the digests record the platform they
# were made on (`framefarm doctor`'s cpu line, the architecture); elsewhere
# the test SKIPs (exit 77) saying so; rerun the script there to compare two
# commits on that machine.
set -u
ff="$1"; golden="$2"
here=$(cd "$(dirname "$0")" && pwd)
sums="$here/render_identity.sha256"
[ -d "$golden/cases" ] || { echo "SKIP: $golden absent (golden pipelines and cases are part of the checked outputs)"; exit 77; }
[ -f "$sums" ] || { echo "SKIP: $sums absent (no digests recorded yet)"; exit 77; }
. "$here/render_identity.inc"
platform=$(identity_platform "$ff")
recorded=$(sed -n 's/^# platform: //p' "$sums")
if [ "$platform" != "$recorded" ]; then
  echo "SKIP: digests were recorded on '$recorded', this is '$platform' (float bits depend on the CPU kernels);"
  echo "      compare two commits here with scripts/render_identity_digests.sh"
  exit 77
fi
tmp=$(mktemp -d "${FF_TEST_TMP:-/tmp}/identity.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache"
identity_outputs "$ff" "$golden" "$tmp/out" || { echo "FAIL: making the outputs"; exit 1; }
identity_digests "$tmp/out" > "$tmp/now.sha256"
fails=0; missing=0; checked=0
while read -r sum name; do
  case "$sum" in "#"*|"") continue ;; esac
  now=$(awk -v n="$name" '$2 == n { print $1 }' "$tmp/now.sha256")
  if [ -z "$now" ]; then
    missing=$((missing + 1)); echo "not made here: $name"; continue
  fi
  checked=$((checked + 1))
  if [ "$now" != "$sum" ]; then
    fails=$((fails + 1))
    echo "DIFFERS: $name ($(grep "^$name " "$tmp/out/entries" | cut -d' ' -f2-))"
  fi
done < "$sums"
new=$(awk 'NR == FNR { if ($1 !~ /^#/) seen[$2] = 1; next } !($2 in seen)' "$sums" "$tmp/now.sha256" | wc -l)
[ "$new" -eq 0 ] || { echo "FAIL: $new outputs have no recorded digest (regenerate the file from the previous commit)"; fails=$((fails + 1)); }
echo "$checked outputs compared, $fails differ, $missing not made in this build"
[ "$checked" -gt 0 ] || { echo "FAIL: nothing compared"; exit 1; }
[ "$fails" -eq 0 ] || exit 1
echo "ok"
