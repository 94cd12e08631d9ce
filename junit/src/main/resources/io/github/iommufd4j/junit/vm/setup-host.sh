#!/usr/bin/env bash
# What the VM tests, `iommufd4j vm` and `jshell --vm` need on a Debian bookworm host: QEMU 10
# (from bookworm-backports, added with the mirror the system already uses) and the guest-kernel
# build tools.
#
#   setup-host.sh                  install what is missing (root; says what and why first)
#   setup-host.sh --check [tools|qemu]     say what is missing and the command that installs
#                                          it; exit 1 when something is
#   setup-host.sh --missing [tools|qemu]   list what is missing, one a line (nothing: all there)
#
# Idempotent. Nothing is installed except by the first form.
set -euo pipefail
self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup-host.sh
# What build-kernel.sh (beside this script) runs.
tools=(make gcc libc6-dev bc flex bison libelf-dev libssl-dev cpio xz-utils perl)
qemu_pkg="qemu-system-x86 (10 or newer, from bookworm-backports)"

qemu_ok() {
  command -v qemu-system-x86_64 >/dev/null \
    && qemu-system-x86_64 --version | awk 'NR==1 {split($4, v, "."); exit !(v[1] >= 10)}'
}
missing_tools() { for p in "${tools[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done; }
missing() {
  case ${1:-all} in
    tools) missing_tools ;;
    qemu) qemu_ok || echo "$qemu_pkg" ;;
    all) missing_tools; qemu_ok || echo "$qemu_pkg" ;;
  esac
}

case ${1:-} in
  --missing) missing "${2:-all}"; exit 0 ;;
  --check)
    m=$(missing "${2:-all}" | paste -sd'|' - | sed 's/|/, /g')
    [ -n "$m" ] || exit 0
    echo "the QEMU guests need what this host lacks: $m" >&2
    echo "install it with:  sudo $self" >&2
    exit 1 ;;
  '') ;;
  *) sed -n '2,12p' "$self" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

mapfile -t absent < <(missing_tools)
if [ ${#absent[@]} -eq 0 ] && qemu_ok; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "setup-host: needs root to install: $(missing all | paste -sd' ' -)" >&2
  echo "setup-host: run:  sudo $self" >&2
  exit 1
fi
echo "setup-host: installing for the QEMU guests (VM tests, iommufd4j vm):" >&2
[ ${#absent[@]} -eq 0 ] || echo "  ${absent[*]}: to build the guest kernels (Linux 7.3 and 6.12 from Debian's sources)" >&2
qemu_ok || echo "  $qemu_pkg: the emulator the guests run in (bookworm itself has 7.2)" >&2
. /etc/os-release
if ! qemu_ok && [ "${VERSION_CODENAME:-}" = bookworm ]; then
  src=/etc/apt/sources.list.d/bookworm-backports.sources
  if [ ! -e "$src" ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$mirror" ] || { echo "setup-host: cannot derive the Debian mirror" >&2; exit 1; }
    echo "setup-host: adding the bookworm-backports suite ($src)" >&2
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" > "$src"
  fi
fi
apt-get update -qq
[ ${#absent[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${absent[@]}"
if ! qemu_ok; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t bookworm-backports qemu-system-x86 \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-system-x86
fi
qemu_ok || { echo "setup-host: QEMU 10 could not be installed" >&2; exit 1; }
