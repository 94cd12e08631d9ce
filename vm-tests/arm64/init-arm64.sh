#!/bin/bash
# PID 1 of the arm64 guest, before the shared vm-tests/guest/init.sh: the root is the trixie
# arm64 root file system (rootfs-arm64.sh), so the host's files the tests need (the worktree,
# the Maven repository, the results directory) come over a second, read-only 9p share of the
# host's / (mount tag "host") and are bind-mounted at their host paths. Then init.sh runs as on
# the x86 guests. run-vm-arm64.sh copies this file into the root as /iommufd4j-init.
#   iommufd4j.binds=DIR[,DIR...]   host directories to show at their own path (default /work,/root)
#   iommufd4j.init=PATH            the shared init.sh (a host path inside one of the binds)
set -eu
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
binds=/work,/root init=''
read -r cmdline < /proc/cmdline
for word in $cmdline; do
  case $word in
    iommufd4j.binds=*) binds=${word#*=} ;;
    iommufd4j.init=*)  init=${word#*=} ;;
  esac
done
umount /proc
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro host /host
for d in ${binds//,/ }; do
  [ -d "$d" ] || { echo "[init-arm64] no mount point $d in the root file system"; continue; }
  mount --bind "/host$d" "$d"
done
[ -n "$init" ] && [ -f "$init" ] || { echo "[init-arm64] no init.sh at '$init'"; exit 1; }  # panic: the VM stops
exec /bin/bash "$init"
