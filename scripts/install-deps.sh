#!/bin/sh
# Installs, idempotently and quietly, every Debian package framefarm needs to
# build and test (Debian 12, as root); clang and its runtime (libFuzzer) build
# the fuzz targets scripts/test.sh runs. Packages already present are skipped.
# CUDA (nvcc, cuBLAS, cuDNN, NCCL) is not a Debian package: it is found under
# /usr/local/cuda when present and the CUDA backend is skipped otherwise.
set -eu

# libmicrohttpd-dev: the coordinator's status page (--http); chromium and
# prometheus (for promtool only): the browser and metrics checks of
# tests/farm/test_http_page.c.
PACKAGES="
build-essential cmake ninja-build pkg-config git
libopenblas-openmp-dev libdnnl-dev
libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
libopenmpi-dev openmpi-bin
libsqlite3-dev sqlite3
libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg
libpng-dev libjpeg62-turbo-dev
libcmocka-dev
clang libclang-rt-14-dev
libmicrohttpd-dev chromium prometheus
sentencepiece
slurm-wlm munge
"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  echo "install-deps: all packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: need root (or sudo) to install:$missing" >&2
    exit 1
  fi
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps: done"
