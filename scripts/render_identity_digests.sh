#!/bin/sh
# Writes tests/cli/render_identity.sha256: the digests of the outputs listed
# by tests/cli/render_identity.inc as a given binary makes them.
#   scripts/render_identity_digests.sh --binary PATH/framefarm [--out FILE]
#   scripts/render_identity_digests.sh --commit REV [--out FILE]
# --commit checks REV out into a temporary worktree, builds it (CPU only,
# ccache when present) and uses that binary: run it with the commit BEFORE a
# change that must keep every byte, then `ctest -R cli_render_identity` on
# the change. The output list always comes from this checkout's .inc, so REV
# must understand its flags (golden --dump exists since the commit adding
# this script). Golden data is read from ../shared/golden next to the checkout.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin=""; rev=""; sums_out="$root/tests/cli/render_identity.sha256"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) bin="$2"; shift 2 ;;
    --commit) rev="$2"; shift 2 ;;
    --out) sums_out="$2"; shift 2 ;;
    *) echo "usage: $0 --binary FRAMEFARM | --commit REV [--out FILE]" >&2; exit 2 ;;
  esac
done
[ -n "$bin$rev" ] || { echo "usage: $0 --binary FRAMEFARM | --commit REV [--out FILE]" >&2; exit 2; }
golden="$root/../shared/golden"
tmp=$(mktemp -d); trap 'git -C "$root" worktree remove --force "$tmp/src" 2>/dev/null; rm -rf "$tmp"' EXIT
made_by="binary $bin"
if [ -n "$rev" ]; then
  sha=$(git -C "$root" rev-parse --verify "$rev^{commit}")
  git -C "$root" worktree add --detach "$tmp/src" "$sha" >/dev/null
  launcher=""; command -v ccache >/dev/null && launcher="-DCMAKE_C_COMPILER_LAUNCHER=ccache"
  # shellcheck disable=SC2086
  cmake -S "$tmp/src" -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRAMEFARM_CUDA=OFF $launcher >/dev/null
  cmake --build "$tmp/build" -j2 --target framefarm >/dev/null
  bin="$tmp/build/framefarm"
  made_by="commit $sha"
fi
. "$root/tests/cli/render_identity.inc"
export XDG_CACHE_HOME="$tmp/cache"
identity_outputs "$bin" "$golden" "$tmp/out"
{
  echo "# platform: $(identity_platform "$bin")"
  echo "# made by: scripts/render_identity_digests.sh from $made_by"
  identity_digests "$tmp/out"
} > "$sums_out"
echo "wrote $sums_out ($(grep -vc "^#" "$sums_out") digests, $made_by)"
