#!/usr/bin/env bash
# Compiles the C baselines with gcc against the project's pinned UAPI headers (and the mock
# driver's iommufd_test.h), the same headers the Java bindings were generated from.
#   build.sh OUTDIR SYSROOT
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
out=$1 sysroot=$2
mkdir -p "$out"
[ -f /usr/include/liburing.h ] || { echo "bench: liburing is missing (apt-get install liburing-dev)" >&2; exit 1; }
flags=(-std=gnu11 -O2 -Wall -Werror -I "$sysroot/kernel" -I "$sysroot/usr/include"
       -I "$sysroot/usr/include/x86_64-linux-gnu")
gcc "${flags[@]}" -o "$out/map_unmap" "$src/map_unmap.c"
gcc "${flags[@]}" -o "$out/faults" "$src/faults.c" -luring -lpthread
