#!/usr/bin/env bash
# Builds (or finds in the cache) a lean guest kernel for the VM tests.
#
#   build-kernel.sh VERSION [DEBIAN_VERSION]      VERSION: 6.12 | 7.3
#   build-kernel.sh --cached VERSION              only a ready or cached image (exit 1: none)
#   build-kernel.sh --probe VERSION               exit 0 if the kernel is cached or can be built
#                                                 here, else exit 3 with the reason on stderr
#
# Source: Debian's linux-source-VERSION (.deb fetched with scripts/debian-fetch.sh, never
# installed). Config: `make allnoconfig KCONFIG_ALLCONFIG=guest.config`, checked by
# check-config.sh. Result, cached per Debian version and fragment hash:
#   ${IOMMUFD4J_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iommufd4j}/kernels/<debian-version>-<sha12>/
#     bzImage  config  build.log  debian-version  kernelrelease  build-seconds
# The bzImage path is the LAST line of stdout; everything else goes to stderr.
#
# Environment:
#   IOMMUFD4J_KERNEL_6_12 / IOMMUFD4J_KERNEL_7_3  path of a ready bzImage (no build)
#   IOMMUFD4J_KERNEL_REFRESH=1   ask Debian for its newest version instead of taking any
#                                cached build of VERSION with the same fragment
#   IOMMUFD4J_KEEP_BUILD=1       keep the object tree (otherwise removed after success)
#   IOMMUFD4J_JOBS               make -j (default: nproc)
set -euo pipefail
exec 3>&1 1>&2            # stdout is reserved for the final path

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
# The set-up script as the caller knows it: vm-tests/setup-host.sh in the repository (which
# links here), else the copy beside this script (extracted from iommufd4j-junit).
setup=$(dirname "${BASH_SOURCE[0]}")/../setup-host.sh
[ -f "$setup" ] || setup=$here/setup-host.sh
fragment=$here/guest.config
cached_only=0 probe=0
if [ "${1:-}" = --cached ]; then cached_only=1; shift; fi
if [ "${1:-}" = --probe ]; then probe=1; shift; fi
version=${1:?usage: build-kernel.sh [--cached|--probe] 6.12|7.3 [DEBIAN_VERSION]}
pin=${2:-}
log() { [ $cached_only = 1 ] || echo "[build-kernel $version] $*" >&2; }

case $version in
  7.3)  suite=trixie-backports ;;
  6.12) suite=bookworm-security ;;
  *) log "unsupported version (6.12 or 7.3)"; exit 2 ;;
esac
pkg=linux-source-$version

# 1. A ready image named by the environment short-circuits everything.
envvar=IOMMUFD4J_KERNEL_${version//./_}
if [ -n "${!envvar:-}" ]; then
  [ -f "${!envvar}" ] || { log "$envvar=${!envvar} does not exist"; exit 1; }
  log "using $envvar"
  echo "${!envvar}" >&3; exit 0
fi

cache=${IOMMUFD4J_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iommufd4j}
hash=$(sha256sum "$fragment" | cut -c1-12)
mkdir -p "$cache/kernels"

# Newest cached build of this VERSION (or of the pinned Debian version) with this fragment.
cached() {
  local pattern=${pin:-$version.*}
  ls -1d "$cache/kernels/"$pattern-"$hash"/bzImage 2>/dev/null | sort -V | tail -1 || true
}

# 2. Cache hit: no network needed.
if [ "${IOMMUFD4J_KERNEL_REFRESH:-0}" != 1 ] && [ -n "$(cached)" ]; then
  log "cached: $(cat "$(dirname "$(cached)")/debian-version" 2>/dev/null || true)"
  cached >&3; exit 0
fi

[ $cached_only = 0 ] || exit 1

# Without a cached kernel: can one be built here? (fetched with apt-get, unpacked with dpkg-deb,
# built with the tools setup-host.sh installs)
absent=$(bash "$here/setup-host.sh" --missing tools | paste -sd' ' -)
if [ "$probe" = 1 ]; then
  for c in apt-get dpkg-deb dpkg tar flock; do
    command -v "$c" >/dev/null || { log "cannot build a guest kernel here: no $c (a Debian-based host is needed)"; exit 3; }
  done
  if [ -n "$absent" ]; then
    log "no cached guest kernel $version and the kernel build tools are missing: $absent (install them with:  sudo $setup)"
    exit 3
  fi
  log "no cached kernel: it will be built on first use (4-9 minutes on 2 cores, then cached in $cache/kernels)"
  exit 0
fi

# One build per VERSION at a time (other callers wait, then find the cache filled).
exec 9>"$cache/kernels/.lock-$version"
if ! flock -n 9; then log "waiting for another build of $version"; flock 9; fi
if [ "${IOMMUFD4J_KERNEL_REFRESH:-0}" != 1 ] && [ -n "$(cached)" ]; then cached >&3; exit 0; fi

# 3. Build tools: this script installs nothing (setup-host.sh does, as root).
if [ -n "$absent" ]; then
  log "the kernel build tools are missing: $absent"
  log "install them with:  sudo $setup"
  exit 1
fi

# 4. Source: fetch the Debian package, keep the extracted tree under the cache.
t0=$SECONDS
debs=$cache/debs
read -r _ debver deb < <(bash "$here/debian-fetch.sh" "$suite" "$debs" "$pkg${pin:+=$pin}" | tail -1)
log "Debian $pkg $debver ($suite)"
key=$debver-$hash
out=$cache/kernels/$key
if [ -f "$out/bzImage" ]; then rm -f "$deb"; echo "$out/bzImage" >&3; exit 0; fi

src=$cache/src/$pkg-$debver
if [ ! -f "$src/.extracted" ]; then
  log "extracting $(basename "$deb")"
  rm -rf "$src" "$src.tmp"; mkdir -p "$src.tmp/deb"
  dpkg-deb -x "$deb" "$src.tmp/deb"
  tar -xJf "$src.tmp/deb/usr/src/$pkg.tar.xz" -C "$src.tmp"
  rm -rf "$src.tmp/deb"
  mv "$src.tmp" "$src"
  touch "$src/.extracted"
fi
rm -f "$deb"
tree=$src/$pkg

# 5. Configure in a separate object tree and check the fragment survived.
build=$cache/build/$key
rm -rf "$build"; mkdir -p "$build"
buildlog=$build/build.log
export KBUILD_BUILD_USER=iommufd4j KBUILD_BUILD_HOST=vm-tests
mk=(make -C "$tree" O="$build")
log "configuring (allnoconfig + guest.config) in $build"
"${mk[@]}" allnoconfig KCONFIG_ALLCONFIG="$fragment" >"$buildlog" 2>&1
"${mk[@]}" olddefconfig >>"$buildlog" 2>&1
bash "$here/check-config.sh" "$fragment" "$tree" "$build/.config"

# 6. Build bzImage; the full make output goes to the log. Progress: objects compiled against
# the count of the last build of this version (or an estimate), redrawn in place every 2 s on
# a terminal, a line every 30 s otherwise.
jobs=${IOMMUFD4J_JOBS:-$(nproc)}
log "building bzImage with -j$jobs (log: $buildlog)"
objects() { grep -cE '^  (CC|AS|LD|AR)' "$1" 2>/dev/null || true; }
last=$(ls -1d "$cache/kernels/"$version.*/build.log 2>/dev/null | sort -V | tail -1 || true)
total=$( [ -n "$last" ] && objects "$last" || true)
[ -n "$total" ] && [ "$total" -gt 0 ] || total=1700   # a lean 7.3 build had 1730
tty=0; [ -t 2 ] && [ "${TERM:-dumb}" != dumb ] && tty=1
tb=$SECONDS
"${mk[@]}" -j"$jobs" bzImage >>"$buildlog" 2>&1 &
makepid=$!
tick=$([ $tty = 1 ] && echo 2 || echo 30)
while kill -0 "$makepid" 2>/dev/null; do
  for _ in $(seq $((tick * 2))); do kill -0 "$makepid" 2>/dev/null && sleep 0.5; done
  kill -0 "$makepid" 2>/dev/null || break
  n=$(objects "$buildlog"); pct=$((n * 100 / total)); [ $pct -le 99 ] || pct=99
  line="[build-kernel $version] $((SECONDS - tb))s, $n of ~$total objects ($pct%): $(tail -1 "$buildlog" | cut -c1-60)"
  if [ $tty = 1 ]; then printf '\r\033[K%s' "$line" >&2; else echo "$line" >&2; fi
done
[ $tty = 0 ] || printf '\r\033[K' >&2
if ! wait "$makepid"; then
  tail -40 "$buildlog" >&2
  log "build FAILED (log: $buildlog)"; exit 1
fi
secs=$((SECONDS - tb))
times > "$build/times"   # not in $(...): a subshell would report its own children
log "CPU time of make (user, system): $(tail -1 "$build/times")"

# 7. Publish atomically into the cache.
rm -rf "$out.tmp"; mkdir -p "$out.tmp"
cp "$build/arch/x86/boot/bzImage" "$out.tmp/bzImage"
cp "$build/.config" "$out.tmp/config"
cp "$buildlog" "$out.tmp/build.log"
echo "$pkg $debver $suite" > "$out.tmp/debian-version"
"${mk[@]}" -s kernelrelease > "$out.tmp/kernelrelease"
echo "$secs" > "$out.tmp/build-seconds"
rm -rf "$out"; mv "$out.tmp" "$out"
[ "${IOMMUFD4J_KEEP_BUILD:-0}" = 1 ] || rm -rf "$build"
log "built $(cat "$out/kernelrelease") in ${secs}s (total $((SECONDS - t0))s), $(du -h "$out/bzImage" | cut -f1)"
echo "$out/bzImage" >&3
