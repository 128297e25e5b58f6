#!/bin/sh
# HunyuanVideo through `framefarm render`: the embedded tiny model written by
# `init-model tiny-hunyuanvideo` renders with its defaults (17 frames of
# 96x64, Y4M: header and frame count checked), twice to the same bytes; the
# planner's sequential offload (blocks of the Llama encoder, CLIP and the
# transformer streamed) under a budget gives the same bytes; the golden tiny
# folder (sentencepiece Llama tokenizer) renders with a negative prompt; a
# size that is not a multiple of 16 is refused.
set -u
ff="$1"; golden="$2"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$ff" init-model tiny-hunyuanvideo "$tmp/hy" || { echo "init-model failed"; exit 1; }
grep -q '"HunyuanVideoPipeline"' "$tmp/hy/model_index.json" || { echo "not a HunyuanVideoPipeline folder"; exit 1; }
for f in tokenizer/tokenizer.json tokenizer_2/vocab.json tokenizer_2/merges.txt text_encoder/model.safetensors \
         text_encoder_2/model.safetensors transformer/diffusion_pytorch_model.safetensors vae/diffusion_pytorch_model.safetensors; do
  [ -s "$tmp/hy/$f" ] || { echo "missing $f"; exit 1; }
done
frames() { # "W.. H.." of the y4m header and frames = (size - header) / (6 + W*H*3/2) (4:2:0)
  hdr=$(head -n 1 "$1"); w=$(echo "$hdr" | sed 's/.* W\([0-9]*\).*/\1/'); h=$(echo "$hdr" | sed 's/.* H\([0-9]*\).*/\1/')
  size=$(wc -c < "$1"); hl=$(( $(printf '%s' "$hdr" | wc -c) + 1 ))
  echo "W$w H$h frames=$(( (size - hl) / (6 + w * h * 3 / 2) )) rest=$(( (size - hl) % (6 + w * h * 3 / 2) ))"
}
"$ff" render --model "$tmp/hy" --prompt "A cat walks on the grass, realistic." --out "$tmp/a.y4m" || { echo "render failed"; exit 1; }
info=$(frames "$tmp/a.y4m"); echo "$info"
echo "$info" | grep -q "W96 H64" || { echo "want 96x64"; exit 1; }
echo "$info" | grep -q "frames=17 rest=0" || { echo "want 17 frames"; exit 1; }
"$ff" render --model "$tmp/hy" --prompt "A cat walks on the grass, realistic." --out "$tmp/b.y4m" >/dev/null || exit 1
cmp -s "$tmp/a.y4m" "$tmp/b.y4m" || { echo "two renders differ"; exit 1; }
"$ff" render --model "$tmp/hy" --prompt "A cat walks on the grass, realistic." --offload sequential --vram-budget 64M \
  --out "$tmp/c.y4m" > "$tmp/plan.txt" || { cat "$tmp/plan.txt"; echo "planned render failed"; exit 1; }
cat "$tmp/plan.txt"
cmp -s "$tmp/a.y4m" "$tmp/c.y4m" || { echo "sequential offload changed the video"; exit 1; }
if [ -f "$golden/pipelines/tiny-hunyuanvideo/model_index.json" ]; then
  "$ff" render --model "$golden/pipelines/tiny-hunyuanvideo" --prompt "A panda eats bamboo." --negative-prompt "blurry" \
    --frames 5 --height 48 --width 32 --steps 2 --out "$tmp/g.y4m" || { echo "golden folder render failed"; exit 1; }
  info=$(frames "$tmp/g.y4m"); echo "$info"
  echo "$info" | grep -q "W32 H48" && echo "$info" | grep -q "frames=5 rest=0" || { echo "want 5 frames of 32x48"; exit 1; }
fi
if "$ff" render --model "$tmp/hy" --prompt "x" --height 40 --out "$tmp/bad.y4m" 2>"$tmp/err"; then
  echo "height 40 accepted"; exit 1
fi
grep -q "multiples of 16" "$tmp/err" || { cat "$tmp/err"; echo "no multiple-of-16 message"; exit 1; }
echo "ok"
