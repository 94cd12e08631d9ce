#!/usr/bin/env bash
# Materialises the pinned kernel headers that bindings are generated from and checked
# against, into headers/target/sysroot, without installing packages or touching the
# system's apt sources (see scripts/debian-fetch.sh).
#
#   headers/materialize.sh [--update-lock]
#
# Inputs pinned in headers.lock: the Debian packages (suite, version, sha256 of the .deb)
# and the sha256 of every header file we use. If a pinned .deb is no longer served, the
# newest one of the same package is used, but only if the headers we use are byte-identical
# to the pinned ones. --update-lock rewrites headers.lock from what was fetched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
lock="$here/headers.lock"
out="$here/target/sysroot"
debs="${IOMMUFD4J_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iommufd4j}/debs"
update=${1:-}

# The header files the wrapper pulls in (relative to the sysroot).
files=(
  usr/include/linux/iommufd.h
  usr/include/linux/vfio.h
  usr/include/linux/io_uring.h
  usr/include/linux/types.h
  usr/include/linux/ioctl.h
  usr/include/x86_64-linux-gnu/asm/unistd_64.h
  kernel/iommufd_test.h
)

if [ -z "$update" ] && [ -f "$out/.complete" ] && [ "$out/.complete" -nt "$lock" ]; then
  echo "headers: up to date in $out" >&2; exit 0
fi

pinned() { awk -v k="$1" '$1 == "deb" && $2 == k {print $3, $4, $5}' "$lock"; }
mkdir -p "$debs"
rm -rf "$out"; mkdir -p "$out/kernel"
fetched=()
for pkg in linux-libc-dev linux-source-7.3; do
  read -r suite ver sum < <(pinned "$pkg") || { echo "headers: $pkg not in $lock" >&2; exit 1; }
  line=$("$root/scripts/debian-fetch.sh" "$suite" "$debs" "$pkg=$ver" 2>/dev/null | tail -1) \
    || line=$("$root/scripts/debian-fetch.sh" "$suite" "$debs" "$pkg" | tail -1)
  read -r _ gotver deb <<<"$line"
  gotsum=$(sha256sum "$deb" | cut -d' ' -f1)
  if [ "$gotver" != "$ver" ] || [ "$gotsum" != "$sum" ]; then
    echo "headers: warning: $pkg $gotver (sha256 $gotsum) differs from the pinned $ver; the header checksums below decide" >&2
  fi
  fetched+=("deb $pkg $suite $gotver $gotsum")
  case "$pkg" in
    linux-libc-dev) dpkg-deb -x "$deb" "$out" ;;
    linux-source-*)
      # Only the mock driver's ABI header is needed from the 150 MB source tarball.
      dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' \
        | tar -xJO --wildcards '*/drivers/iommu/iommufd/iommufd_test.h' > "$out/kernel/iommufd_test.h" ;;
  esac
done

status=0
for f in "${files[@]}"; do
  [ -s "$out/$f" ] || { echo "headers: missing $f" >&2; status=1; continue; }
  sum=$(sha256sum "$out/$f" | cut -d' ' -f1)
  want=$(awk -v k="$f" '$1 == "file" && $2 == k {print $3}' "$lock")
  if [ -z "$update" ] && [ "$sum" != "$want" ]; then
    echo "headers: $f has sha256 $sum, headers.lock pins $want" >&2; status=1
  fi
done
[ $status -eq 0 ] || exit 1
# The 7.3 UAPI: 22 iommufd commands, the last one NOIOMMU_GET_PA (0x95).
grep -q 'IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA' "$out/usr/include/linux/iommufd.h" \
  || { echo "headers: iommufd.h is not the 7.3 UAPI" >&2; exit 1; }

if [ -n "$update" ]; then
  {
    echo "# Pinned inputs of headers/materialize.sh (rewrite with --update-lock)."
    echo "# deb <package> <suite> <version> <sha256 of .deb>"
    printf '%s\n' "${fetched[@]}"
    echo "# file <path in sysroot> <sha256>"
    for f in "${files[@]}"; do echo "file $f $(sha256sum "$out/$f" | cut -d' ' -f1)"; done
  } > "$lock"
  echo "headers: wrote $lock" >&2
fi
printf '%s\n' "${fetched[@]}" > "$out/VERSIONS"
touch "$out/.complete"
echo "headers: materialised in $out" >&2
