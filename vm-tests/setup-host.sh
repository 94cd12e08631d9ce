#!/usr/bin/env bash
# Installs what the VM tests need on a Debian bookworm host: QEMU 10 from bookworm-backports
# (the suite is added with the mirror the system already uses) and the guest-kernel build tools.
# Idempotent; needs root for apt.
set -euo pipefail
pkgs=(bc flex bison libelf-dev libssl-dev cpio xz-utils make gcc)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
qemu_ok() { command -v qemu-system-x86_64 >/dev/null && qemu-system-x86_64 --version | awk 'NR==1 {split($4, v, "."); exit !(v[1] >= 10)}'; }
if [ ${#missing[@]} -eq 0 ] && qemu_ok; then exit 0; fi
[ "$(id -u)" = 0 ] || { echo "setup-host: run as root to install ${missing[*]} qemu-system-x86" >&2; exit 1; }
. /etc/os-release
if ! qemu_ok && [ "${VERSION_CODENAME:-}" = bookworm ]; then
  src=/etc/apt/sources.list.d/bookworm-backports.sources
  if [ ! -e "$src" ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$mirror" ] || { echo "setup-host: cannot derive the Debian mirror" >&2; exit 1; }
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" > "$src"
  fi
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
if ! qemu_ok; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t bookworm-backports qemu-system-x86 \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-system-x86
fi
