#!/bin/sh
# bench/device_prepare.sh: everything bench/device_run.sh needs on the lent GPU
# machine, built and packed HERE, so that device minutes go to tests and
# benchmarks. Run it in the checkout the device call sends (the session's own
# checkout), then call the device tool (see bench/README.md, "The device run"):
#
#   sh bench/device_prepare.sh            # ~5-15 min here (CUDA build on 2 cores, xz)
#   run(command="sh bench/device_run.sh", carry=[".device/carry"], timeout_s=600)
#
# It writes .device/ (ignored by git, .gitignore) and packs into
# .device/carry/ only what travels (the call carries 64 MiB with the tree):
#   bin.tar.xz       stripped binaries of a minimal CUDA build for sm_90
#                    (FRAMEFARM_FARM=OFF, no MPI, no OpenBLAS: fewer libraries
#                    the device image must have): framefarm, the CUDA and fused
#                    op tests, bench_gpu_speed, bench_gpu_ops; and framefarm-mpi
#                    (the same with MPI and NCCL) for the mpirun check
#   openmpi.tar.xz   Open MPI's runtime from this machine's Debian packages
#                    (bench/device_openmpi.sh), minus OpenSHMEM / Fortran / Java
#   gold.tar.xz      ../shared/golden (every family's cases and tiny pipelines)
#   peer.tar.gz      ../shared/peers/diffusers-58eb52c0-src.tar.gz (torch's side)
#   configs.tar.xz   ../shared/configs/wan2.1-t2v-1.3b (the benchmark model)
#   SOURCE           the commit and the build flags
# device_run.sh rebuilds on the device when the carried binaries do not start
# there (other system libraries), so a stale bin.tar.xz costs time, not
# results. Env: JOBS (default 2), SHARED (default ../shared).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
JOBS=${JOBS:-2}
SHARED=${SHARED:-../shared}
D=.device
C=$D/carry
mkdir -p "$D" "$C"
grep -qx '/.device/' .gitignore 2>/dev/null || { echo "add /.device/ to .gitignore first" >&2; exit 1; }

LAUNCH=""
command -v ccache >/dev/null 2>&1 && LAUNCH="-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache"
GEN=""
command -v ninja >/dev/null 2>&1 && GEN="-G Ninja"
# shellcheck disable=SC2086
common="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRAMEFARM_CUDA=ON -DFRAMEFARM_FARM=OFF -DCMAKE_CUDA_ARCHITECTURES=90
        -DFRAMEFARM_WERROR=ON -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON $LAUNCH"
TESTS="kernels_test_flash_cuda kernels_test_ops_cuda kernels_test_ops_bf16 kernels_test_ops_async
       kernels_test_fused_ops kernels_test_cuda_host offload_test_stream_dit"
echo "== build (no MPI) in $D/build"
# shellcheck disable=SC2086
cmake -S . -B $D/build $GEN $common -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON >$D/configure.log
# shellcheck disable=SC2086
cmake --build $D/build -j "$JOBS" --target framefarm bench_gpu_speed bench_gpu_ops $TESTS
echo "== build (MPI + NCCL) in $D/build-mpi"
# shellcheck disable=SC2086
cmake -S . -B $D/build-mpi $GEN $common >$D/configure-mpi.log
grep -q "MPI=ON" $D/configure-mpi.log || { echo "no MPI found here: the mpirun check needs it" >&2; exit 1; }
cmake --build $D/build-mpi -j "$JOBS" --target framefarm

rm -rf "${D:?}/bin" && mkdir -p $D/bin
cp $D/build/framefarm $D/build/bench_gpu_speed $D/build/bench_gpu_ops $D/bin/
for t in $TESTS; do cp "$D/build/tests/$t" $D/bin/; done
cp $D/build-mpi/framefarm $D/bin/framefarm-mpi
strip $D/bin/*
tar -C $D -cf - bin | xz -6 -T "$JOBS" >$C/bin.tar.xz

echo "== Open MPI"
[ -d $D/openmpi/usr ] || sh bench/device_openmpi.sh $D/openmpi
(cd $D/openmpi && find . \( -name 'liboshmem*' -o -name 'libmpi_mpifh*' -o -name 'libmpi_usempi*' -o -name 'libmpi_java*' \
    -o -name '*.jar' -o -name 'mca_*oshmem*' -o -name 'mca_spml_*' -o -name 'mca_sshmem_*' -o -name 'mca_scoll_*' \) \
    -exec rm -rf {} +)
tar -C $D -cf - openmpi | xz -6 -T "$JOBS" >$C/openmpi.tar.xz

echo "== golden cases"
if [ ! -f $C/gold.tar.xz ] || [ -n "$(find "$SHARED/golden/INDEX.json" -newer $C/gold.tar.xz)" ]; then
    tar -C "$SHARED" --transform 's,^golden,gold,' -cf - golden | xz -6 -T "$JOBS" >$C/gold.tar.xz
fi
cp "$SHARED/peers/diffusers-58eb52c0-src.tar.gz" $C/peer.tar.gz
tar -C "$SHARED/configs" -cf - wan2.1-t2v-1.3b | xz -6 >$C/configs.tar.xz

{
    echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- . ':!.device' || echo ' (with uncommitted changes)')"
    echo "built $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -m), nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
    echo "cmake $common"
} >$C/SOURCE
tree_kb=$(git ls-files -z | du -ck --files0-from=- | tail -n 1 | cut -f1)
carry_kb=$(du -sk $C | cut -f1)
echo "== $C: $(du -sh $C | cut -f1) (+ tree ${tree_kb} KiB); the device call carries 64 MiB in all"
ls -l $C
[ $((tree_kb + carry_kb)) -lt 62000 ] || { echo "too big to carry" >&2; exit 1; }
echo "ready: run(command=\"sh bench/device_run.sh\", carry=[\"$C\"], timeout_s=600)"
