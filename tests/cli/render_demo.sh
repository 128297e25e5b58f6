#!/bin/sh
# framefarm render with the embedded default model (no --model): creates it
# in $XDG_CACHE_HOME/framefarm/tiny, writes an MP4 and ffprobe finds the
# requested frame count, size and frame rate. Skips (77) without ffprobe or
# without MP4 support in this build.
set -u
ff="$1"
command -v ffprobe >/dev/null 2>&1 || { echo "SKIP: ffprobe not installed"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/cache"
out=$("$ff" render --prompt "A red boat on a misty lake at sunset." --frames 9 --height 64 --width 96 --steps 3 \
      --fps 12 --seed 7 --out "$tmp/demo.mp4" 2>"$tmp/err"); rc=$?
echo "$out"; cat "$tmp/err"
if [ "$rc" -ne 0 ] && grep -q "no MP4 writer" "$tmp/err"; then echo "SKIP: built without MP4 support"; exit 77; fi
[ "$rc" -eq 0 ] || { echo "render exited $rc"; exit 1; }
[ -f "$XDG_CACHE_HOME/framefarm/tiny/model_index.json" ] || { echo "default model not created in the cache folder"; exit 1; }
echo "$out" | grep -q "SMOKE-TEST" || { echo "output does not say the default model is a smoke-test model"; exit 1; }
echo "$out" | grep -q "^wrote $tmp/demo.mp4" || { echo "no 'wrote' line naming the file"; exit 1; }
probe=$(ffprobe -v error -select_streams v:0 -count_frames \
        -show_entries stream=width,height,nb_read_frames,r_frame_rate -of default=nw=1 "$tmp/demo.mp4") \
  || { echo "ffprobe failed"; exit 1; }
echo "$probe"
for want in "width=96" "height=64" "nb_read_frames=9" "r_frame_rate=12/1"; do
  echo "$probe" | grep -qx "$want" || { echo "ffprobe: want $want"; exit 1; }
done
# the embedded defaults: 17 frames of 128x128 at 16 fps, VAE tiling on (reusing the cached model)
out=$("$ff" render --prompt "Two birds fly over a green field." --steps 2 --out "$tmp/default.mp4" 2>/dev/null) \
  || { echo "default render failed"; exit 1; }
echo "$out"
echo "$out" | grep -q "from $XDG_CACHE_HOME/framefarm/tiny" || { echo "second run did not reuse the cached model"; exit 1; }
echo "$out" | grep -q "VAE tiling on" || { echo "default render does not tile"; exit 1; }
probe=$(ffprobe -v error -select_streams v:0 -count_frames \
        -show_entries stream=width,height,nb_read_frames,r_frame_rate -of default=nw=1 "$tmp/default.mp4")
echo "$probe"
for want in "width=128" "height=128" "nb_read_frames=17" "r_frame_rate=16/1"; do
  echo "$probe" | grep -qx "$want" || { echo "ffprobe (defaults): want $want"; exit 1; }
done
echo "ok"
