#!/usr/bin/env bash
# Builds (or finds in the cache) the arm64 guest's root file system: Debian trixie arm64
# (minbase) with OpenJDK 25 (openjdk-25-jre-headless; JDK 25 for arm64 needs trixie's glibc).
# `debootstrap --arch=arm64 --foreign --variant=minbase` only downloads and unpacks the
# packages (no arm64 code runs on the host and nothing is installed on the host); the guest
# needs no package configuration: init-arm64.sh mounts what it needs and runs the JDK by path.
# The mirror is the one the system's apt sources use. trixie is never added to those sources.
#
#   rootfs-arm64.sh            build or find; the root directory is the LAST line of stdout
#   rootfs-arm64.sh --cached   only a cached root (exit 1: none)
#
# Result: ${IOMMUFD4J_CACHE:-~/.cache/iommufd4j}/arm64/rootfs-<sha12>/ (sha12 hashes this
# script), with build-seconds and packages.txt next to it.
set -euo pipefail
exec 3>&1 1>&2
self=$(realpath "${BASH_SOURCE[0]}")
cached_only=0; [ "${1:-}" != --cached ] || cached_only=1
log() { [ $cached_only = 1 ] || echo "[rootfs-arm64] $*" >&2; }
cache=${IOMMUFD4J_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iommufd4j}
hash=$(sha256sum "$self" | cut -c1-12)
out=$cache/arm64/rootfs-$hash
if [ -f "$out.done" ]; then echo "$out" >&3; exit 0; fi
[ $cached_only = 0 ] || exit 1
command -v debootstrap >/dev/null || { log "debootstrap is missing (sudo $(dirname "$self")/setup-arm64.sh)"; exit 1; }
[ "$(id -u)" = 0 ] || { log "debootstrap needs root"; exit 1; }
mkdir -p "$cache/arm64"
exec 9>"$cache/arm64/.rootfs-lock"; flock 9
if [ -f "$out.done" ]; then echo "$out" >&3; exit 0; fi

mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { log "cannot derive the Debian mirror from /etc/apt/sources*"; exit 1; }
t0=$SECONDS
rm -rf "$out.tmp"
log "debootstrap trixie arm64 (minbase + openjdk-25-jre-headless) into $out.tmp"
debootstrap --arch=arm64 --foreign --variant=minbase \
  --include=openjdk-25-jre-headless,iproute2 \
  trixie "$out.tmp" "$mirror" > "$cache/arm64/rootfs-debootstrap.log" 2>&1 || {
    tail -20 "$cache/arm64/rootfs-debootstrap.log" >&2; log "debootstrap FAILED"; exit 1; }
# --foreign unpacked only the required packages; the rest (the JDK and its libraries) are
# unpacked by hand, as debootstrap itself does (merged /usr: keep the directory symlinks).
for deb in "$out.tmp"/var/cache/apt/archives/*.deb; do
  dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$out.tmp"
done
java=$(ls -1d "$out.tmp"/usr/lib/jvm/java-25-openjdk-arm64/bin/java 2>/dev/null | head -1 || true)
[ -n "$java" ] || { log "no JDK 25 in the unpacked root"; exit 1; }
# The guest runs no package scripts: keep what the tests need and drop the download cache.
(cd "$out.tmp/var/cache/apt/archives" && ls -1 *.deb | sed 's/\.deb$//') > "$out.packages.txt"
rm -rf "$out.tmp/var/cache/apt/archives/"*.deb "$out.tmp/debootstrap/"*.deb
mkdir -p "$out.tmp/usr/local/bin"
ln -sfn /usr/lib/jvm/java-25-openjdk-arm64/bin/java "$out.tmp/usr/local/bin/java"
# Mount points for the host directories the launcher shares (see run-vm-arm64.sh); --foreign
# leaves /proc a symlink to itself (for a chroot), the guest mounts proc there.
if [ -L "$out.tmp/proc" ]; then rm -f "$out.tmp/proc"; fi # a directory elsewhere (e.g. run inside a chroot): kept
mkdir -p "$out.tmp/host" "$out.tmp/work" "$out.tmp/proc"
# What base-passwd's configuration would install: root and the JDK's user lookups.
for f in passwd group; do
  [ -e "$out.tmp/etc/$f" ] || cp "$out.tmp/usr/share/base-passwd/$f.master" "$out.tmp/etc/$f"
done
rm -rf "$out"; mv "$out.tmp" "$out"
echo $((SECONDS - t0)) > "$out.build-seconds"
touch "$out.done"
log "built in $((SECONDS - t0))s, $(du -sh "$out" | cut -f1)"
echo "$out" >&3
