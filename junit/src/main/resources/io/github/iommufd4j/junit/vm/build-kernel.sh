#!/usr/bin/env bash
# Builds (or finds in the cache) a lean guest kernel for the VM tests.
#
#   build-kernel.sh VERSION [DEBIAN_VERSION]      VERSION: 6.12 | 7.3
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
fragment=$here/guest.config
probe=0
if [ "${1:-}" = --probe ]; then probe=1; shift; fi
version=${1:?usage: build-kernel.sh 6.12|7.3 [DEBIAN_VERSION]}
pin=${2:-}
log() { echo "[build-kernel $version] $*" >&2; }

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

# Without a cached kernel: can one be built here? (fetch with apt-get, unpack with dpkg-deb,
# build dependencies present or installable as root or through sudo)
if [ "$probe" = 1 ]; then
  for c in apt-get dpkg-deb dpkg tar flock; do
    command -v "$c" >/dev/null || { log "cannot build a guest kernel here: no $c (a Debian-based host is needed)"; exit 3; }
  done
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    for c in make gcc bc flex bison; do
      command -v "$c" >/dev/null || { log "cannot build a guest kernel here: no $c and no sudo to install it"; exit 3; }
    done
  fi
  log "no cached kernel: it will be built on first use (about 5 minutes on 2 cores, then cached in $cache/kernels)"
  exit 0
fi

# One build per VERSION at a time (other callers wait, then find the cache filled).
exec 9>"$cache/kernels/.lock-$version"
if ! flock -n 9; then log "waiting for another build of $version"; flock 9; fi
if [ "${IOMMUFD4J_KERNEL_REFRESH:-0}" != 1 ] && [ -n "$(cached)" ]; then cached >&3; exit 0; fi

# 3. Build dependencies (installed only when absent).
deps=(make gcc libc6-dev bc flex bison libelf-dev libssl-dev cpio xz-utils perl)
absent=()
for d in "${deps[@]}"; do
  dpkg -s "$d" >/dev/null 2>&1 || absent+=("$d")
done
if ((${#absent[@]})); then
  log "installing build dependencies: ${absent[*]}"
  sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${absent[@]}" >&2
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

# 6. Build bzImage; the full make output goes to the log, a status line every 30 s here.
jobs=${IOMMUFD4J_JOBS:-$(nproc)}
log "building bzImage with -j$jobs (log: $buildlog)"
tb=$SECONDS
"${mk[@]}" -j"$jobs" bzImage >>"$buildlog" 2>&1 &
makepid=$!
while kill -0 "$makepid" 2>/dev/null; do
  for _ in $(seq 30); do kill -0 "$makepid" 2>/dev/null && sleep 1; done
  kill -0 "$makepid" 2>/dev/null || break
  n=$(grep -cE '^  (CC|AS|LD|AR)' "$buildlog" || true)
  log "$((SECONDS - tb))s, $n objects: $(tail -1 "$buildlog" | cut -c1-80)"
done
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
