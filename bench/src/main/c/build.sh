#!/usr/bin/env bash
# Compiles the C baselines with gcc against the project's pinned UAPI headers (and the mock
# driver's iommufd_test.h), the same headers the Java bindings were generated from.
#   build.sh OUTDIR SYSROOT
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
out=$1 sysroot=$2
mkdir -p "$out"
flags=(-std=gnu11 -O2 -Wall -Werror -I "$sysroot/kernel" -I "$sysroot/usr/include"
       -I "$sysroot/usr/include/x86_64-linux-gnu")
gcc "${flags[@]}" -o "$out/map_unmap" "$src/map_unmap.c"
# Without liburing the fault baselines are skipped, with the reason beside them (CBaseline reads it).
rm -f "$out/faults.missing"
if [ -f /usr/include/liburing.h ]; then
  gcc "${flags[@]}" -o "$out/faults" "$src/faults.c" -luring -lpthread
else
  rm -f "$out/faults"
  echo "liburing-dev is not installed: the C fault baselines are not built" > "$out/faults.missing"
  echo "bench: WARNING: liburing-dev is not installed: the C fault baselines are skipped (sudo scripts/setup.sh --install installs it)" >&2
fi
