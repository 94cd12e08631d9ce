#!/usr/bin/env bash
# Builds the container launcher's image from Debian packages only, without an image registry:
#   1. iommufd4j/base:bookworm   a minimal bookworm debootstrapped here, then `docker import`ed
#   2. iommufd4j/qemu:<hash>     the Dockerfile next to this script on top (QEMU 10 from
#                                bookworm-backports); <hash> is of the Dockerfile, so an edit
#                                makes a new tag and an existing tag is a cache hit.
# Both use the Debian mirror of this host's apt sources. Prints the image tag as the last
# stdout line (at once on a cache hit); progress goes to stderr.
#
#   build-image.sh [--tag]     --tag: only print the tag, build nothing
#                  [--force]   rebuild both images
# Uses the docker client and honours DOCKER_HOST (see start-dockerd.sh). Building the base
# needs root and debootstrap (apt-get install debootstrap).
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
base=iommufd4j/base:bookworm
tag=iommufd4j/qemu:$(sha256sum "$here/Dockerfile" | cut -c1-12)
force=0
case ${1:-} in
  --tag) echo "$tag"; exit 0 ;;
  --force) force=1 ;;
  '') ;;
  *) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
log() { echo "[build-image] $*" >&2; }
have() { docker image inspect "$1" >/dev/null 2>&1; }

command -v docker >/dev/null || { log "no docker client (install Debian's Docker engine package)"; exit 1; }
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
  || { log "no Docker engine answers${DOCKER_HOST:+ at $DOCKER_HOST} (vm-tests/container/start-dockerd.sh starts one)"; exit 1; }
if [ "$force" = 0 ] && have "$tag"; then echo "$tag"; exit 0; fi

# One build at a time (parallel test runs).
cache=${XDG_CACHE_HOME:-$HOME/.cache}/iommufd4j/image-build
mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9
if [ "$force" = 0 ] && have "$tag"; then echo "$tag"; exit 0; fi

mirror=''
for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
  [ -r "$f" ] || continue
  mirror=$(awk '/^URIs:/ {print $2; exit}' "$f"); [ -z "$mirror" ] || break
done
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { log "cannot derive the Debian mirror from /etc/apt/sources.list{,.d}"; exit 1; }

start=$SECONDS
if [ "$force" = 1 ] || ! have "$base"; then
  [ "$(id -u)" = 0 ] || { log "building $base needs root (debootstrap)"; exit 1; }
  command -v debootstrap >/dev/null || { log "no debootstrap (apt-get install debootstrap)"; exit 1; }
  root=$cache/rootfs
  rm -rf "$root"
  log "debootstrap bookworm (minbase) from $mirror"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { log "debootstrap failed; last lines of $cache/debootstrap.log:"; tail -n 30 "$cache/debootstrap.log" >&2; exit 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  log "importing $base ($(du -sh "$root" | cut -f1))"
  tar -C "$root" --numeric-owner -c . | docker import -c 'CMD ["/bin/bash"]' - "$base" >/dev/null
  rm -rf "$root"
  log "$base done after $((SECONDS - start))s"
fi
log "building $tag"
docker build --network host --build-arg MIRROR="$mirror" -t "$tag" "$here" >"$cache/docker-build.log" 2>&1 \
  || { log "docker build failed; last lines of $cache/docker-build.log:"; tail -n 30 "$cache/docker-build.log" >&2; exit 1; }
# Older tags of the Dockerfile are stale: drop them (the base stays).
docker image ls iommufd4j/qemu --format '{{.Repository}}:{{.Tag}}' | grep -vx "$tag" | xargs -r docker rmi >/dev/null 2>&1 || true
log "$tag built in $((SECONDS - start))s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d MB", $1 / 1e6}'))"
echo "$tag"
