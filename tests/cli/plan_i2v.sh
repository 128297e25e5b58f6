#!/bin/sh
# framefarm plan on the image-to-video configs of ../shared/configs (no
# weights): Wan 2.1 I2V 480P / 720P (CLIP image encoder), Wan 2.2 I2V-A14B
# and Wan 2.2 TI2V-5B as WanImageToVideoPipeline (--image-to-video). The
# parameter counts printed equal those of ../shared/configs/README.md
# exactly (each number is also looked up in the README), the plan has the
# image-to-video stages (image encoder, VAE encode before the loop) and fits
# its budget or names the smallest one.
set -u
ff="$1"
configs="$2/../configs"
[ -d "$configs/wan2.1-i2v-14b-480p" ] || { echo "SKIP: no $configs/wan2.1-i2v-14b-480p"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
readme="$configs/README.md"
want() { # model, extra flags, then "component count" pairs
  model="$1"; flags="$2"; shift 2
  out=$("$ff" plan --model "$configs/$model" --budget 24GiB $flags 2>&1); rc=$?
  echo "== $model $flags (exit $rc)"; echo "$out"
  [ "$rc" -eq 0 ] || fail "$model: exit $rc"
  echo "$out" | grep -q "^pipeline WanImageToVideoPipeline;" || fail "$model: not planned as WanImageToVideoPipeline"
  echo "$out" | grep -q "^vae_encode " || fail "$model: no vae_encode stage"
  echo "$out" | grep -q "predicted device peak .* of budget .*: fits" || fail "$model: no fitting peak line"
  while [ $# -gt 0 ]; do
    comp="$1"; n="$2"; shift 2
    grep -q "$n" "$readme" || fail "$n ($model $comp) is not in $readme"
    echo "$out" | grep "^pipeline " | grep -q " $comp $n parameters" || fail "$model: $comp is not $n parameters"
  done
}
want wan2.1-i2v-14b-480p "" text_encoder 5,680,910,336 image_encoder 630,766,080 transformer 16,394,878,784 vae 126,892,531
want wan2.1-i2v-14b-720p "--height 720 --width 1280" text_encoder 5,680,910,336 image_encoder 630,766,080 \
  transformer 16,394,878,784 vae 126,892,531
echo "$out" | grep -q "^image_encoder " || fail "no image_encoder stage"
want wan2.2-i2v-a14b "" text_encoder 5,680,910,336 transformer 14,288,901,184 transformer_2 14,288,901,184 vae 126,892,531
echo "$out" | grep -q "^transformer_2 " || fail "no transformer_2 stage"
echo "$out" | grep -q "^image_encoder " && fail "A14B has no image encoder"
want wan2.2-ti2v-5b "--image-to-video --height 704 --width 1280 --frames 121" text_encoder 5,680,910,336 \
  transformer 4,999,787,712 vae 704,688,668
# without --image-to-video the TI2V folder (a WanPipeline) plans as text to video
out=$("$ff" plan --model "$configs/wan2.2-ti2v-5b" --budget 24GiB 2>&1) || fail "TI2V as text to video: $out"
echo "$out" | grep -q "^pipeline WanPipeline;" || fail "TI2V folder without --image-to-video is not WanPipeline"
echo "ok"
