#!/usr/bin/env bash
# What the arm64 SMMUv3 guest needs on a Debian bookworm host, on top of vm-tests/setup-host.sh
# (the kernel build tools): the cross compiler gcc-aarch64-linux-gnu (bookworm), QEMU 10's
# qemu-system-aarch64 (package qemu-system-arm from bookworm-backports: bookworm's 7.2 has no
# nested SMMUv3) and debootstrap (the trixie arm64 root file system is unpacked, not installed).
#
#   setup-arm64.sh            install what is missing (root; says what first)
#   setup-arm64.sh --missing  list what is missing, one a line
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
qemu_ok() {
  command -v qemu-system-aarch64 >/dev/null \
    && qemu-system-aarch64 --version | awk 'NR==1 {split($4, v, "."); exit !(v[1] >= 10)}'
}
missing() {
  for p in gcc-aarch64-linux-gnu debootstrap; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done
  qemu_ok || echo "qemu-system-arm (10 or newer, from bookworm-backports)"
}
if [ "${1:-}" = --missing ]; then missing; exit 0; fi
absent=$(missing)
[ -n "$absent" ] || exit 0
[ "$(id -u)" = 0 ] || { echo "setup-arm64: needs root to install: $(echo $absent)" >&2; exit 1; }
echo "setup-arm64: installing for the arm64 guest: $(echo $absent)" >&2
# setup-host.sh adds bookworm-backports (with the system's mirror) and the kernel build tools.
"$here/../setup-host.sh"
apt-get install -y --no-install-recommends gcc-aarch64-linux-gnu debootstrap
qemu_ok || apt-get install -y --no-install-recommends -t bookworm-backports qemu-system-arm
