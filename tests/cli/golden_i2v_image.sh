#!/bin/sh
# Golden image inputs go through the PNG reader: an i2v_preprocess case whose
# image.png is intact PASSes; a truncated image.png is a FAIL naming the
# truncation; a PNG with other pixels than the stored U8 tensor is a FAIL
# saying so. Skipped (77) without golden data or without PNG support.
set -u
ff="$1"; golden="$2"
case=i2v_preprocess_clip_crop_only
[ -d "$golden/cases/$case" ] || { echo "SKIP: $golden/cases/$case absent"; exit 77; }
"$ff" doctor | grep -q "PNG yes" || { echo "SKIP: built without PNG support"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/cases"
ln -s "$golden/pipelines" "$tmp/pipelines"
cp -r "$golden/cases/$case" "$tmp/cases/$case"
chmod -R u+w "$tmp/cases"
out=$("$ff" golden "$tmp"); rc=$?
echo "$out"
[ "$rc" -eq 0 ] && echo "$out" | grep -q "^PASS $case" || { echo "intact case did not pass"; exit 1; }
n=$(wc -c < "$tmp/cases/$case/image.png")
head -c $((n / 2)) "$golden/cases/$case/image.png" > "$tmp/cases/$case/image.png"
out=$("$ff" golden "$tmp"); rc=$?
echo "$out"
[ "$rc" -eq 1 ] || { echo "truncated image.png exited $rc, want 1"; exit 1; }
echo "$out" | grep -q "^FAIL $case error .*truncated PNG" || { echo "no truncation FAIL"; exit 1; }
# another case's (valid) PNG: pixels differ from the stored tensor
other=$(ls "$golden/cases" | grep '^i2v_preprocess_clip_bicubic_down$' | head -n 1)
[ -n "$other" ] || { echo "SKIP: no second image case"; exit 77; }
cp "$golden/cases/$other/image.png" "$tmp/cases/$case/image.png"
out=$("$ff" golden "$tmp"); rc=$?
echo "$out"
[ "$rc" -eq 1 ] || { echo "foreign image.png exited $rc, want 1"; exit 1; }
echo "$out" | grep -q "does not decode to the stored image tensor" || { echo "no pixel mismatch FAIL"; exit 1; }
echo "ok"
