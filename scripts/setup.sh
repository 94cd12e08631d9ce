#!/usr/bin/env bash
# What ./run-tests needs beyond JDK 25 and Maven, by group, on Debian bookworm:
#   build      gcc, libc6-dev (the ABI conformance probe), debian-archive-keyring, xz-utils (the pinned
#              kernel headers are fetched from Debian's archive): the build needs them
#   bench      liburing-dev: the benchmarks' C fault baselines (skipped without it)
#   vm         QEMU 10 from bookworm-backports and the kernel build tools: the VM tests in QEMU
#              guests (vm-tests/setup-host.sh)
#   container  Debian's Docker engine package and debootstrap: the container launcher's smoke
#              test (a private engine, vm-tests/container/start-dockerd.sh)
#   arm64      with --arm64 (./run-tests -Parm64): the cross compiler, qemu-system-aarch64 10 and
#              debootstrap for the arm64 SMMUv3 guests (vm-tests/arm64/setup-arm64.sh)
#
#   setup.sh --check [--arm64]    say what is missing, for what, and the command that installs it
#                                 (exit 1 when something is)
#   setup.sh --missing G          list what group G lacks, one a line (nothing: all there)
#   setup.sh --install [--arm64]  install what is missing (root), saying what and why first
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
groups=(build bench vm container)
arm64=''
if [ "${2:-}" = --arm64 ]; then groups+=(arm64); arm64=' --arm64'; fi

has() { dpkg -s "$1" >/dev/null 2>&1; }
# Debian's Docker engine package, found by its description (apt's lists are needed for that).
engine_package() {
  apt-cache search --names-only '^docker' 2>/dev/null | awk -F' - ' '$2 == "Linux container runtime" {print $1; exit}'
}
missing() {
  case $1 in
    build) for p in gcc libc6-dev debian-archive-keyring xz-utils; do has "$p" || echo "$p"; done ;;
    bench) [ -f /usr/include/liburing.h ] || echo liburing-dev ;;
    vm) bash "$root/vm-tests/setup-host.sh" --missing ;;
    arm64) bash "$root/vm-tests/arm64/setup-arm64.sh" --missing ;;
    container)
      command -v dockerd >/dev/null && command -v docker >/dev/null || echo "$(engine_package || true)"
      command -v debootstrap >/dev/null || echo debootstrap ;;
  esac | sed 's/^$/Docker engine (Debian'"'"'s "Linux container runtime" package)/'
}
why() {
  case $1 in
    build) echo "the build itself (ABI conformance probe, kernel headers download)" ;;
    bench) echo "the benchmarks' C fault baselines" ;;
    vm) echo "the VM tests in QEMU guests (Linux 7.3 and 6.12)" ;;
    container) echo "the container launcher's smoke test" ;;
    arm64) echo "the arm64 SMMUv3 guests (Maven profile arm64)" ;;
  esac
}

case ${1:-} in
  --missing) missing "$2"; exit 0 ;;
  --check)
    rc=0
    for g in "${groups[@]}"; do
      m=$(missing "$g" | paste -sd'|' - | sed 's/|/, /g')
      [ -z "$m" ] || { echo "  $g: $m -- for $(why "$g")" >&2; rc=1; }
    done
    [ $rc = 0 ] || echo "  install with:  sudo $root/scripts/setup.sh --install$arm64" >&2
    exit $rc ;;
  --install) ;;
  *) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || { echo "setup: needs root: sudo $root/scripts/setup.sh --install$arm64" >&2; exit 1; }
plan=0
for g in "${groups[@]}"; do
  m=$(missing "$g" | paste -sd'|' - | sed 's/|/, /g')
  [ -z "$m" ] || { [ $plan = 1 ] || echo "setup: installing what this machine lacks (as root):" >&2; plan=1
                   echo "  $m -- for $(why "$g")" >&2; }
done
[ $plan = 1 ] || exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
rc=0
pkgs=($(missing build) $(missing bench))
[ ${#pkgs[@]} -eq 0 ] || apt-get install -y -q --no-install-recommends "${pkgs[@]}" || rc=1
[ -z "$(missing vm)" ] || bash "$root/vm-tests/setup-host.sh" || rc=1
if [ -n "$(missing container)" ]; then
  engine=$(engine_package || true)
  apt-get install -y -q ${engine:-} debootstrap || rc=1
fi
if [ -n "$arm64" ] && [ -n "$(missing arm64)" ]; then bash "$root/vm-tests/arm64/setup-arm64.sh" || rc=1; fi
for g in "${groups[@]}"; do
  m=$(missing "$g" | paste -sd' ' -)
  [ -z "$m" ] || echo "setup: still missing for $(why "$g"): $m" >&2
done
exit $rc
