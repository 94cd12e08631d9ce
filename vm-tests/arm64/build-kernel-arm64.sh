#!/usr/bin/env bash
# Cross-builds (or finds in the cache) the arm64 guest kernel for the SMMUv3 tests: Linux 7.3
# from Debian's linux-source-7.3 (the same source package as the x86 guests, fetched with
# scripts/debian-fetch.sh, never installed), `make ARCH=arm64 allnoconfig` plus
# guest-arm64.config, with the TEST-ONLY change smmuv3-test-assume-canwbs.patch applied to a
# private copy of the source tree.
#
#   build-kernel-arm64.sh            build or find; the Image path is the LAST line of stdout
#   build-kernel-arm64.sh --cached   only a cached Image (exit 1: none)
#
# Needs the cross compiler gcc-aarch64-linux-gnu (bookworm) plus the x86 build tools
# (vm-tests/setup-host.sh); installs nothing (setup-arm64.sh does, as root).
# Result: ${IOMMUFD4J_CACHE:-~/.cache/iommufd4j}/arm64/kernels/<debian-version>-<sha12>/
#   Image  config  build.log  debian-version  kernelrelease  build-seconds
# where sha12 hashes the fragment and the patch.
# Environment: IOMMUFD4J_KERNEL_ARM64 (a ready Image: no build), IOMMUFD4J_JOBS (make -j).
set -euo pipefail
exec 3>&1 1>&2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
fragment=$here/guest-arm64.config
patchfile=$here/smmuv3-test-assume-canwbs.patch
# The source file the patch was written against (linux-source-7.3 7.3.4-1~bpo13+1).
patched_file=drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3-iommufd.c
patched_sha=91574545a63e47f3b9848b2f8e253a8d3c2bed648aec2fbb5ef0540864ade219
cached_only=0; [ "${1:-}" != --cached ] || cached_only=1
log() { [ $cached_only = 1 ] || echo "[build-kernel-arm64] $*" >&2; }

if [ -n "${IOMMUFD4J_KERNEL_ARM64:-}" ]; then
  [ -f "$IOMMUFD4J_KERNEL_ARM64" ] || { log "IOMMUFD4J_KERNEL_ARM64 does not exist"; exit 1; }
  echo "$IOMMUFD4J_KERNEL_ARM64" >&3; exit 0
fi
cache=${IOMMUFD4J_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iommufd4j}
hash=$(cat "$fragment" "$patchfile" | sha256sum | cut -c1-12)
mkdir -p "$cache/arm64/kernels"
cached() { ls -1d "$cache/arm64/kernels/"7.3.*-"$hash"/Image 2>/dev/null | sort -V | tail -1 || true; }
if [ -n "$(cached)" ]; then cached >&3; exit 0; fi
[ $cached_only = 0 ] || exit 1

exec 9>"$cache/arm64/kernels/.lock"
flock 9
if [ -n "$(cached)" ]; then cached >&3; exit 0; fi

command -v aarch64-linux-gnu-gcc >/dev/null || {
  log "the cross compiler is missing: install it with  sudo $here/setup-arm64.sh"; exit 1; }
absent=$("$repo/vm-tests/setup-host.sh" --missing tools | paste -sd' ' -)
[ -z "$absent" ] || { log "kernel build tools missing: $absent (sudo $repo/vm-tests/setup-host.sh)"; exit 1; }

# Source: the extracted tree the x86 build keeps, else fetch and extract it here.
t0=$SECONDS
pkg=linux-source-7.3
src=$(ls -1d "$cache/src/$pkg-"7.3.*/ 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$src" ] || [ ! -f "$src/.extracted" ]; then
  read -r _ debver deb < <("$repo/scripts/debian-fetch.sh" trixie-backports "$cache/debs" "$pkg" | tail -1)
  src=$cache/arm64/src-$debver
  if [ ! -f "$src/.extracted" ]; then
    rm -rf "$src"; mkdir -p "$src/deb"
    dpkg-deb -x "$deb" "$src/deb"
    tar -xJf "$src/deb/usr/src/$pkg.tar.xz" -C "$src"; rm -rf "$src/deb"; touch "$src/.extracted"
  fi
else
  src=${src%/}; debver=${src##*/$pkg-}
fi
log "Debian $pkg $debver"
out=$cache/arm64/kernels/$debver-$hash

# A private copy (hard links) of the tree per patch; the patched file gets its own inode first.
patchhash=$(sha256sum "$patchfile" | cut -c1-12)
tree=$cache/arm64/tree-$debver-$patchhash
if [ ! -f "$tree/.patched" ]; then
  rm -rf "$tree"; cp -al "$src/$pkg" "$tree"
  cp "$tree/$patched_file" "$tree/$patched_file.new" && mv "$tree/$patched_file.new" "$tree/$patched_file"
  sha=$(sha256sum "$tree/$patched_file" | cut -d' ' -f1)
  if [ "$sha" != "$patched_sha" ]; then
    # Another 7.3 release: apply only if the patch fits without fuzz, and say so.
    patch -d "$tree" -p1 -F0 --dry-run -s < "$patchfile" || {
      log "$patched_file of $debver differs from the reviewed source and the patch does not fit"; exit 1; }
    log "WARNING: $patched_file of $debver is not the reviewed version; the patch fits without fuzz"
  fi
  patch -d "$tree" -p1 -F0 -s < "$patchfile"
  touch "$tree/.patched"
fi

# The object tree stays for incremental rebuilds when only the fragment changes.
build=$cache/arm64/build-$debver-$patchhash
mkdir -p "$build"
buildlog=$build/build.log
export KBUILD_BUILD_USER=iommufd4j KBUILD_BUILD_HOST=vm-tests ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-
mk=(make -C "$tree" O="$build")
"${mk[@]}" allnoconfig KCONFIG_ALLCONFIG="$fragment" >"$buildlog" 2>&1
"${mk[@]}" olddefconfig >>"$buildlog" 2>&1
"$repo/vm-tests/kernel/check-config.sh" "$fragment" "$tree" "$build/.config"
jobs=${IOMMUFD4J_JOBS:-$(nproc)}
log "building Image with -j$jobs (log: $buildlog)"
tb=$SECONDS
if ! "${mk[@]}" -j"$jobs" Image >>"$buildlog" 2>&1; then
  tail -40 "$buildlog" >&2; log "build FAILED (log: $buildlog)"; exit 1
fi
secs=$((SECONDS - tb))
rm -rf "$out.tmp"; mkdir -p "$out.tmp"
cp "$build/arch/arm64/boot/Image" "$out.tmp/Image"
cp "$build/.config" "$out.tmp/config"
cp "$buildlog" "$out.tmp/build.log"
echo "$pkg $debver trixie-backports + $(basename "$patchfile")" > "$out.tmp/debian-version"
"${mk[@]}" -s kernelrelease > "$out.tmp/kernelrelease"
echo "$secs" > "$out.tmp/build-seconds"
rm -rf "$out"; mv "$out.tmp" "$out"
log "built $(cat "$out/kernelrelease") in ${secs}s (total $((SECONDS - t0))s)"
echo "$out/Image" >&3
