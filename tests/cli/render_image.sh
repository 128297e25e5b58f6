#!/bin/sh
# render --image: the tiny image-to-video model renders from a picture (and
# the same picture twice gives the same bytes); bad pictures are one clear
# line on stderr naming the file and a non-zero exit, with no video left
# behind: truncated PNG, 1x1, 16-bit grayscale, CMYK JPEG, not an image.
# 8-bit grayscale is accepted (replicated to RGB, as Pillow's convert("RGB")
# that diffusers' load_image uses). --image on a text-to-video model and an
# image-to-video model without --image are refused. Fixtures:
# tests/cli/fixtures/i2v_*.
set -u
ff="$1"
fx=$(dirname "$0")/fixtures
"$ff" doctor | grep -q "PNG yes" || { echo "SKIP: built without PNG support"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$ff" init-model tiny-i2v "$tmp/i2v" >/dev/null || { echo "init-model tiny-i2v failed"; exit 1; }
"$ff" init-model tiny "$tmp/t2v" >/dev/null || { echo "init-model tiny failed"; exit 1; }
r() { "$ff" render --prompt "A paper boat on a river." --steps 2 --frames 5 --height 32 --width 32 "$@"; }

r --model "$tmp/i2v" --image "$fx/i2v_rgb.png" --out "$tmp/a.y4m" >/dev/null 2>&1 || { echo "render --image failed"; exit 1; }
r --model "$tmp/i2v" --image "$fx/i2v_rgb.png" --out "$tmp/b.y4m" >/dev/null 2>&1 || { echo "second render failed"; exit 1; }
cmp -s "$tmp/a.y4m" "$tmp/b.y4m" || { echo "the same picture gave different videos"; exit 1; }
r --model "$tmp/i2v" --image "$fx/i2v_gray8.png" --out "$tmp/g.y4m" >/dev/null 2>&1 || { echo "8-bit gray refused"; exit 1; }
cmp -s "$tmp/a.y4m" "$tmp/g.y4m" && { echo "another picture gave the same video"; exit 1; }

one_line_error() { # what, expected text in the message, then the command
  what="$1"; want="$2"; shift 2
  err=$("$@" 2>&1 >/dev/null); rc=$?
  echo "$what: exit $rc: $err"
  [ "$rc" -ne 0 ] || { echo "$what: exit code 0"; exit 1; }
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || { echo "$what: want exactly one line on stderr"; exit 1; }
  echo "$err" | grep -q -- "$want" || { echo "$what: message lacks '$want'"; exit 1; }
  [ ! -e "$tmp/x.y4m" ] || { echo "$what: a failed render left a file"; exit 1; }
}
n=$(wc -c < "$fx/i2v_rgb.png")
head -c $((n / 2)) "$fx/i2v_rgb.png" > "$tmp/trunc.png"
one_line_error "truncated PNG" "truncated" r --model "$tmp/i2v" --image "$tmp/trunc.png" --out "$tmp/x.y4m"
echo "$err" | grep -q "trunc.png" || { echo "message does not name the file"; exit 1; }
one_line_error "1x1 PNG" "1x1" r --model "$tmp/i2v" --image "$fx/i2v_1x1.png" --out "$tmp/x.y4m"
one_line_error "16-bit grayscale PNG" "16-bit grayscale" r --model "$tmp/i2v" --image "$fx/i2v_gray16.png" --out "$tmp/x.y4m"
if "$ff" doctor | grep -q "JPEG yes"; then
  one_line_error "CMYK JPEG" "CMYK" r --model "$tmp/i2v" --image "$fx/i2v_cmyk.jpg" --out "$tmp/x.y4m"
fi
printf 'GIF89a not really' > "$tmp/x.gif"
one_line_error "not a PNG or JPEG" "x.gif" r --model "$tmp/i2v" --image "$tmp/x.gif" --out "$tmp/x.y4m"
one_line_error "missing file" "nope.png" r --model "$tmp/i2v" --image "$tmp/nope.png" --out "$tmp/x.y4m"
one_line_error "--image on a text-to-video model" "image-to-video needs" r --model "$tmp/t2v" --image "$fx/i2v_rgb.png" --out "$tmp/x.y4m"
one_line_error "image-to-video model without --image" "--image" r --model "$tmp/i2v" --out "$tmp/x.y4m"
echo "ok"
