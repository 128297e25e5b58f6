#!/bin/sh
# bench/device_openmpi.sh [DEST]: Open MPI's runtime for a machine that has none
# (the lent GPU device's image), unpacked from this machine's Debian packages.
#
# Downloads (apt-get download: the package files only, nothing installed here)
# openmpi-bin, openmpi-common, libopenmpi3 and the shared libraries they load
# that a CUDA image may lack, and unpacks them with dpkg -x into DEST (default
# .device/openmpi, ignored by git: .device/ is in .git/info/exclude). The
# unpacked tree is relocatable: bench/device_run.sh sets
#   OPAL_PREFIX=DEST/usr  PATH=DEST/usr/bin:$PATH
#   LD_LIBRARY_PATH=DEST/usr/lib/x86_64-linux-gnu:DEST/usr/lib/x86_64-linux-gnu/openmpi/lib
# and runs DEST/usr/bin/mpirun.openmpi (Debian's mpirun alternative is made by
# the postinst script, which dpkg -x does not run). libc, libstdc++, zlib,
# libudev and libuuid are taken from the host. Prints the unpacked size: it
# travels with the working tree (the device call carries 64 MiB in all).
set -eu
DEST=${1:-.device/openmpi}
PKGS="openmpi-bin openmpi-common libopenmpi3 libevent-core-2.1-7 libevent-pthreads-2.1-7 libfabric1 libhwloc15
libpmix2 libmunge2 libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200 libpsm2-2 libpsm-infinipath1 libucx0
libnuma1 libatomic1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download $PKGS >/dev/null) || {
    echo "apt-get download failed (try apt-get update first)" >&2
    exit 1
}
rm -rf "$DEST"
mkdir -p "$DEST"
for f in "$tmp"/*.deb; do dpkg -x "$f" "$DEST"; done
# what a rank never needs on one node: documentation, man pages, Fortran and C++ bindings' headers
rm -rf "$DEST/usr/share/doc" "$DEST/usr/share/man" "$DEST/usr/share/lintian" "$DEST/usr/include"
ls "$tmp"/*.deb | sed 's|.*/||' >"$DEST/PACKAGES"
echo "unpacked $(wc -l <"$DEST/PACKAGES") packages into $DEST: $(du -sh "$DEST" | cut -f1)"
