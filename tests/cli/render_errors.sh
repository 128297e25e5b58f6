#!/bin/sh
# render's errors: one line on stderr and a non-zero exit for wrong sizes, a
# missing model folder, an unknown scheduler class, a folder that is not a
# pipeline; init-model never overwrites a folder it did not write.
set -u
ff="$1"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$ff" init-model tiny "$tmp/tiny" >/dev/null || { echo "init-model failed"; exit 1; }
one_line_error() { # what, then the command
  what="$1"; shift
  err=$("$@" 2>&1 >/dev/null); rc=$?
  echo "$what: exit $rc: $err"
  [ "$rc" -ne 0 ] || { echo "$what: exit code 0"; exit 1; }
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || { echo "$what: want exactly one line on stderr"; exit 1; }
  [ -n "$err" ] || { echo "$what: empty message"; exit 1; }
}
r() { "$ff" render --prompt "A dog runs." --steps 1 --frames 5 "$@"; }
one_line_error "height not a multiple of 16" r --model "$tmp/tiny" --height 100 --width 64 --out "$tmp/x.y4m"
echo "$err" | grep -q "height 100" || { echo "message does not name the height"; exit 1; }
[ ! -e "$tmp/x.y4m" ] || { echo "a failed render left a file"; exit 1; }
one_line_error "width zero" r --model "$tmp/tiny" --height 64 --width 0 --out "$tmp/x.y4m"
one_line_error "missing model folder" r --model "$tmp/nope" --out "$tmp/x.y4m"
echo "$err" | grep -q "$tmp/nope" || { echo "message does not name the folder"; exit 1; }
mkdir -p "$tmp/notapipeline"
one_line_error "folder without model_index.json" r --model "$tmp/notapipeline" --out "$tmp/x.y4m"
cp -r "$tmp/tiny" "$tmp/ddim"
sed 's/UniPCMultistepScheduler/DDIMScheduler/' "$tmp/tiny/scheduler/scheduler_config.json" > "$tmp/ddim/scheduler/scheduler_config.json"
one_line_error "unknown scheduler class" r --model "$tmp/ddim" --out "$tmp/x.y4m"
echo "$err" | grep -q "DDIMScheduler" || { echo "message does not name the class"; exit 1; }
one_line_error "no --out" r --model "$tmp/tiny"
one_line_error "bad number" r --model "$tmp/tiny" --steps many --out "$tmp/x.y4m"
# init-model: refuses a non-empty folder it did not write, and an existing model without --force
mkdir -p "$tmp/mine"; echo keep > "$tmp/mine/file"
one_line_error "init-model over a user folder" "$ff" init-model tiny "$tmp/mine"
[ "$(cat "$tmp/mine/file")" = keep ] || { echo "init-model touched a user folder"; exit 1; }
one_line_error "init-model twice" "$ff" init-model tiny "$tmp/tiny"
"$ff" init-model tiny "$tmp/tiny" --force >/dev/null || { echo "init-model --force failed"; exit 1; }
echo "ok"
