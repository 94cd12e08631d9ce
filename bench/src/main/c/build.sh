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
# A baseline that cannot be built here (no gcc, no liburing) is skipped, with the reason in
# <program>.missing beside it (CBaseline reports it); the build goes on.
skip() {
  rm -f "$out/$1"
  echo "$2: the C baseline $1 is not built" > "$out/$1.missing"
  echo "bench: WARNING: $2: the C baseline $1 is skipped (sudo scripts/setup.sh --install installs it)" >&2
}
rm -f "$out"/*.missing
if ! command -v gcc >/dev/null; then
  skip map_unmap "gcc is not installed"; skip faults "gcc is not installed"
  exit 0
fi
gcc "${flags[@]}" -o "$out/map_unmap" "$src/map_unmap.c"
if [ -f /usr/include/liburing.h ]; then
  gcc "${flags[@]}" -o "$out/faults" "$src/faults.c" -luring -lpthread
else
  skip faults "liburing-dev is not installed"
fi
