#!/bin/sh
# coordinator --http / --http-token: bad values are usage errors (exit 2,
# one line naming the problem) before anything starts; a build without
# libmicrohttpd says so. The page itself: tests/farm/test_http_page.c.
# Skips (77) in builds without the farm.
set -u
ff="$1"
"$ff" keygen 2>&1 | grep -q "unknown command" && { echo "SKIP: built without the farm"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect() { # code, message fragment, arguments...
  want=$1; msg=$2; shift 2
  "$ff" coordinator --state "$tmp/s" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
  [ "$rc" -eq "$want" ] || fail "coordinator $*: exit $rc, want $want: $(cat "$tmp/err")"
  grep -q -- "$msg" "$tmp/err" || fail "coordinator $*: '$msg' not in: $(cat "$tmp/err")"
}
if "$ff" coordinator --help | grep -q -- "--http ADDR:PORT"; then :; else fail "--help does not list --http"; fi
if ! "$ff" coordinator --state "$tmp/s" --http 127.0.0.1:99999 2>&1 | grep -q "built without HTTP support"; then
  expect 2 "bad port '99999'" --http 127.0.0.1:99999
  expect 2 "bad port" --http 127.0.0.1:
  expect 2 "not a numeric IPv4 or IPv6 address" --http example.com:8080
  expect 2 "in brackets" --http "[::1:8080"
  expect 2 "needs --http" --http-token "$tmp/none"
  printf 'short\n' > "$tmp/short"
  expect 2 "16 to 256 characters" --http 127.0.0.1:0 --http-token "$tmp/short"
  printf 'a token with spaces in it\n' > "$tmp/spaces"
  expect 2 "without spaces" --http 127.0.0.1:0 --http-token "$tmp/spaces"
  expect 2 "No such file" --http 127.0.0.1:0 --http-token "$tmp/missing"
  # a port already taken: a runtime error naming it
  "$ff" coordinator --bind 'tcp://127.0.0.1:*' --state "$tmp/a" --http 127.0.0.1:0 --log-level warn 2>"$tmp/a.log" & pid=$!
  i=0; while [ ! -s "$tmp/a/http" ]; do i=$((i+1)); [ $i -lt 1200 ] || { kill -9 $pid; fail "no STATE/http"; }; sleep 0.05; done
  url=$(cat "$tmp/a/http")
  port=${url##*:}; port=${port%/}
  expect 1 "cannot listen on 127.0.0.1 port $port" --bind 'tcp://127.0.0.1:*' --http "127.0.0.1:$port"
  kill -9 $pid; wait $pid 2>/dev/null
else
  expect 2 "built without HTTP support" --http 127.0.0.1:8080
fi
echo "ok"
