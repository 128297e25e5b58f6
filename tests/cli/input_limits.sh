#!/bin/sh
# The front doors refuse the same things the same way, before any work:
# a 10 MB prompt through `framefarm mpi` (refused while reading the job
# file: exit 2 at once, without loading a model or tokenizing), invalid
# UTF-8 and oversized prompts in render, mpi and farm jobs, and outputs of
# an unknown kind or into a missing folder (exit 2, one line naming them).
set -u
ff="$1"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
refused() { # what, then the command: exit 2 and one line on stderr
  what="$1"; shift
  "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
  echo "$what: exit $rc: $(cat "$tmp/err")"
  [ "$rc" -eq 2 ] || fail "$what: exit $rc, want 2"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$what: want one line on stderr"
}
big=$(head -c 20000 /dev/zero | tr '\0' 'a')
bad=$(printf 'caf\303 au lait')
# render
refused "render: a 20000-byte prompt" "$ff" render --prompt "$big" --out "$tmp/x.y4m"
grep -q "more than the limit of 16384 bytes" "$tmp/err" || fail "no limit named"
refused "render: invalid UTF-8" "$ff" render --prompt "$bad" --out "$tmp/x.y4m"
grep -q "not valid UTF-8 (byte 3" "$tmp/err" || fail "no byte named"
refused "render: x.avi" "$ff" render --prompt p --out "$tmp/x.avi"
grep -q "NAME.mp4, NAME.y4m or DIR/" "$tmp/err" || fail "the kinds are not listed"
refused "render: x.y4m.txt" "$ff" render --prompt p --out "$tmp/x.y4m.txt"
refused "render: a missing folder" "$ff" render --prompt p --out "$tmp/missing/x.mp4"
grep -q "does not exist" "$tmp/err" || fail "missing folder not named"
refused "render: a bad value" "$ff" render --prompt p --steps 0 --out "$tmp/x.y4m"
grep -q "(an integer in 1..100000)" "$tmp/err" || fail "the range is not given"
refused "render: a bad choice" "$ff" render --prompt p --precision fp8 --out "$tmp/x.y4m"
grep -q "(f32, bf16 or bf16-all)" "$tmp/err" || fail "the choices are not given"
# render: a model whose files disagree with their configs is refused at open,
# before the prompt is encoded (one line, nothing written); run under
# LeakSanitizer by scripts/test.sh, so the failure paths free what they took
"$ff" init-model tiny "$tmp/tiny" >/dev/null || fail "init-model"
broken() { # name, file, sed expression: a copy of the tiny model with one config edited
  rm -rf "$tmp/$1"; cp -r "$tmp/tiny" "$tmp/$1"; sed -i "$3" "$tmp/$1/$2"
}
at_open() { # what, model: refused before any work
  "$ff" render --model "$2" --prompt p --steps 1 --frames 5 --out "$tmp/b.y4m" >"$tmp/out" 2>"$tmp/err"; rc=$?
  echo "$1: exit $rc: $(cat "$tmp/err")"
  [ "$rc" -eq 1 ] || [ "$rc" -eq 2 ] || fail "$1: exit $rc, want 1 or 2"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$1: want one line on stderr"
  ! grep -q "rendering" "$tmp/out" || fail "$1: refused only after the render started"
  [ ! -e "$tmp/b.y4m" ] || fail "$1: left a file"
}
broken te text_encoder/config.json 's/"d_ff": 64/"d_ff": 96/'
at_open "render: text encoder d_ff not its weights'" "$tmp/te"
grep -q "wi_0.weight is \[64, 32\] in the weights, but config.json implies \[96, 32\]" "$tmp/err" || fail "tensor not named"
broken vt vae/config.json 's/"scale_factor_temporal": 4/"scale_factor_temporal": 1/'
at_open "render: VAE scale_factor_temporal 1" "$tmp/vt"
broken vs vae/config.json 's/"scale_factor_spatial": 8/"scale_factor_spatial": 1/'
at_open "render: VAE scale_factor_spatial 1" "$tmp/vs"
broken vc vae/config.json 's/x/x/'
printf 'XXXXXXXX' | dd of="$tmp/vc/vae/diffusion_pytorch_model.safetensors" bs=1 seek=8 conv=notrunc 2>/dev/null
at_open "render: a corrupt VAE file" "$tmp/vc"
broken ts model_index.json 's/"tile_sample_stride_height": 48, "tile_sample_stride_width": 48/"tile_sample_stride_height": 80, "tile_sample_stride_width": 80/'
at_open "render: VAE tile stride 80 > tile 64" "$tmp/ts"
# transformer: hidden_states of 7x9 latents with 2x2 patches is refused, not cropped to 6x8
st_write() { # file, header JSON, data bytes: a .safetensors file of zeros
  n=${#2}
  { for k in 0 1 2 3 4 5 6 7; do printf "\\$(printf %o $(( (n >> (8 * k)) & 255 )))"; done
    printf '%s' "$2"; head -c "$3" /dev/zero; } >"$1"
}
st_write "$tmp/x79.safetensors" '{"hidden_states":{"dtype":"F32","shape":[1,4,1,7,9],"data_offsets":[0,1008]},"timestep":{"dtype":"F32","shape":[1],"data_offsets":[1008,1012]},"encoder_hidden_states":{"dtype":"F32","shape":[1,4,32],"data_offsets":[1012,1524]}}' 1524
"$ff" transformer --model "$tmp/tiny/transformer" --in "$tmp/x79.safetensors" --out "$tmp/y.safetensors" >"$tmp/out" 2>"$tmp/err"; rc=$?
echo "transformer: 7x9 latents: exit $rc: $(cat "$tmp/err")"
[ "$rc" -ne 0 ] && [ ! -e "$tmp/y.safetensors" ] || fail "a 7x9 input was not refused"
grep -q "F32\[1, 4, 1, 7, 9\]: frames, height and width must be multiples of patch_size \[1, 2, 2\]" "$tmp/err" || fail "no reason"
st_write "$tmp/x68.safetensors" '{"hidden_states":{"dtype":"F32","shape":[1,4,1,6,8],"data_offsets":[0,768]},"timestep":{"dtype":"F32","shape":[1],"data_offsets":[768,772]},"encoder_hidden_states":{"dtype":"F32","shape":[1,4,32],"data_offsets":[772,1284]}}' 1284
"$ff" transformer --model "$tmp/tiny/transformer" --in "$tmp/x68.safetensors" --out "$tmp/y.safetensors" >"$tmp/out" 2>&1 ||
  fail "a 6x8 input: $(cat "$tmp/out")"
# mpi (builds with MPI): a 10 MB prompt, refused before MPI starts or a model loads
if "$ff" help | grep -q "^  mpi "; then
  { printf '{"prompt": "'; head -c 10000000 /dev/zero | tr '\0' 'x'; printf '", "out": "%s/m.y4m"}' "$tmp"; } >"$tmp/big.json"
  printf '{"prompt": "p\u0000", "out": "%s/m.y4m"}' "$tmp" >"$tmp/small.json" # refused at the same place
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%M" -o "$tmp/rss0" "$ff" mpi "$tmp/small.json" >"$tmp/out" 2>"$tmp/err"
    /usr/bin/time -f "%M" -o "$tmp/rss" "$ff" mpi "$tmp/big.json" >"$tmp/out" 2>"$tmp/err"; rc=$?
    base=$(tail -n 1 "$tmp/rss0"); rss=$(tail -n 1 "$tmp/rss")
    echo "mpi: 10 MB prompt: exit $rc, max RSS $rss KiB (a refused small job: $base KiB): $(cat "$tmp/err")"
    [ "$rc" -eq 2 ] || fail "mpi: 10 MB prompt exited $rc, want 2"
    # the file and its parse, nothing more (the binary alone is 50 MB, 250 MB with CUDA's libraries)
    [ $((rss - base)) -lt 65536 ] || fail "mpi: refusing a 10 MB prompt took $((rss - base)) KiB more than a small job"
  else
    refused "mpi: 10 MB prompt" "$ff" mpi "$tmp/big.json"
  fi
  grep -q '"prompt" is 10000000 bytes, more than the limit of 16384 bytes' "$tmp/err" || fail "mpi: $(cat "$tmp/err")"
  printf '{"prompt": "%s", "out": "%s/m.y4m"}' "$bad" "$tmp" >"$tmp/utf8.json"
  refused "mpi: invalid UTF-8" "$ff" mpi "$tmp/utf8.json"
  printf '{"prompt": "p", "out": "%s/m.avi"}' "$tmp" >"$tmp/avi.json"
  refused "mpi: m.avi" "$ff" mpi "$tmp/avi.json"
  refused "mpi: a bad value" "$ff" mpi --overlap 0 "$tmp/avi.json"
  grep -q "(an integer in 1..65536)" "$tmp/err" || fail "mpi: the range is not given"
fi
# farm jobs (farm builds): refused by the client before it connects
if "$ff" help | grep -q "^  submit "; then
  printf '{"model": "/m", "prompt": "%s", "seed": 1, "output": "%s/o.y4m"}' "$bad" "$tmp" >"$tmp/j1.json"
  refused "submit: invalid UTF-8" "$ff" submit "$tmp/j1.json" --connect tcp://127.0.0.1:1
  grep -q "prompt 0 is not valid UTF-8" "$tmp/err" || fail "submit: $(cat "$tmp/err")"
  printf '{"model": "/m", "prompt": "p", "seed": 1, "output": "%s/frames"}' "$tmp" >"$tmp/j2.json"
  refused "submit: output 'frames'" "$ff" submit "$tmp/j2.json" --connect tcp://127.0.0.1:1
  grep -q "NAME.mp4, NAME.y4m or DIR/" "$tmp/err" || fail "submit: $(cat "$tmp/err")"
  refused "farm: a missing job file" "$ff" farm --workers 1 "$tmp/j3.json"
  printf '{"model": "/m", "prompt": "p", "seed": 1, "output": "%s/nope/o.y4m"}' "$tmp" >"$tmp/j3.json"
  refused "farm: a missing output folder" "$ff" farm --workers 1 "$tmp/j3.json"
  grep -q "does not exist" "$tmp/err" || fail "farm: $(cat "$tmp/err")"
fi
echo "ok"
