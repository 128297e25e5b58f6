#!/bin/sh
# Submit checks (issue 21): `submit` and `farm` refuse, before anything is
# stored or rendered, a job whose model folder does not open as the workers
# would open it (a corrupt VAE file, a text-encoder config that does not
# match its weights, a size the model does not take) and the coordinator
# refuses an output folder that does not exist or cannot take files: exit 2,
# one line naming the file, and no job in `status`. A good job is taken.
set -u
ff="$1"
"$ff" keygen 2>&1 | grep -q "unknown command" && { echo "SKIP: built without the farm"; exit 77; }
tmp=$(mktemp -d); pids=""
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$ff" init-model tiny "$tmp/tiny" >/dev/null || fail "init-model"
cp -r "$tmp/tiny" "$tmp/vc"
printf 'XXXXXXXX' | dd of="$tmp/vc/vae/diffusion_pytorch_model.safetensors" bs=1 seek=8 conv=notrunc 2>/dev/null
cp -r "$tmp/tiny" "$tmp/te"
sed -i 's/"d_ff": 64/"d_ff": 96/' "$tmp/te/text_encoder/config.json"
"$ff" coordinator --bind 'tcp://127.0.0.1:*' --state "$tmp/st" --output-root "$tmp" --log-level warn 2>"$tmp/coord.log" & pids="$pids $!"
i=0; while [ ! -s "$tmp/st/endpoint" ]; do i=$((i+1)); [ $i -lt 1200 ] || fail "coordinator did not start"; sleep 0.05; done
ep=$(cat "$tmp/st/endpoint")
job() { # name, model, output, extra JSON
  printf '{"model": "%s", "prompt": "p", "seed": 1, "output": "%s"%s}\n' "$2" "$3" "${4:-}" >"$tmp/$1.json"
}
refused() { # what, expected text, command...
  what=$1; want=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
  echo "$what: exit $rc: $(cat "$tmp/err")"
  [ "$rc" -eq 2 ] || fail "$what: exit $rc, want 2"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$what: want one line on stderr"
  grep -q -- "$want" "$tmp/err" || fail "$what: '$want' not said"
}
job vc "$tmp/vc" "$tmp/a.y4m"
refused "submit: a corrupt VAE file" "vae/diffusion_pytorch_model.safetensors" "$ff" submit "$tmp/vc.json" --connect "$ep"
job te "$tmp/te" "$tmp/a.y4m"
refused "submit: text encoder config not its weights" "config.json implies" "$ff" submit "$tmp/te.json" --connect "$ep"
job sz "$tmp/tiny" "$tmp/a.y4m" ', "width": 40'
refused "submit: a width the job spec refuses" "width 40" "$ff" submit "$tmp/sz.json" --connect "$ep"
touch "$tmp/afile"
job nd "$tmp/tiny" "$tmp/afile/a.y4m"
refused "submit: an output folder that is a file" "afile" "$ff" submit "$tmp/nd.json" --connect "$ep"
job nf "$tmp/tiny" "$tmp/nope/a.y4m"
refused "submit: a missing output folder" "does not exist" "$ff" submit "$tmp/nf.json" --connect "$ep"
"$ff" status --connect "$ep" >"$tmp/st.out" 2>&1 || fail "status: $(cat "$tmp/st.out")"
[ "$(grep -c '^[0-9]' "$tmp/st.out")" -eq 0 ] || fail "a refused job was stored: $(cat "$tmp/st.out")"
# farm: refused before any process starts
job fv "$tmp/vc" "$tmp/f.y4m"
refused "farm: a corrupt VAE file" "vae/diffusion_pytorch_model.safetensors" "$ff" farm --workers 1 "$tmp/fv.json"
# a good job is taken (no worker: it waits queued)
job ok "$tmp/tiny" "$tmp/ok.y4m"
"$ff" submit "$tmp/ok.json" --connect "$ep" >"$tmp/out" 2>"$tmp/err" || fail "a good job: $(cat "$tmp/err")"
"$ff" status 1 --connect "$ep" | grep -q "^job 1: queued" || fail "the good job is not queued"
echo "ok"
