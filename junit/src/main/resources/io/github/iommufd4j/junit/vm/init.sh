#!/bin/bash
# PID 1 of the VM-test guest (started by run-vm.sh with init=<this file>).
# The root is the HOST's / shared read-only over virtio-9p, so every binary used here is
# the host's. Kernel command line parameters (read from /proc/cmdline):
#   iommufd4j.cmd=PATH       command to run (executable, else run with bash)
#   iommufd4j.results=PATH   where to mount the writable 9p share with mount tag "results"
#                            (default /run/results); it receives exitcode, cmd.log, boot-uptime
#   iommufd4j.vfio=VVVV:DDDD[,...]  bind these PCI devices to vfio-pci before running cmd
#   iommufd4j.profile=NAME   exported to cmd as IOMMUFD4J_PROFILE
#   iommufd4j.cwd=PATH       working directory of cmd (default: the results mount)
# If the results share holds guest-env.sh, cmd runs with it sourced (run-vm.sh --env).
# At the end the guest powers off through /proc/sysrq-trigger (a bash builtin write, no
# program loaded over 9p during shutdown); if PID 1 ever exits instead, the kernel panics
# and, with panic=-1 and QEMU's -no-reboot, the VM stops anyway.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
log() { echo "[init] $*"; }

mountpoint_ok() { grep -q " $1 " /proc/mounts; }
mnt() {   # mnt TYPE SOURCE DIR [OPTIONS]
  mountpoint_ok "$3" 2>/dev/null && return 0
  mount -t "$1" ${4:+-o "$4"} "$2" "$3"
}

mount -t proc proc /proc
read -r up _ < /proc/uptime
log "started at ${up}s after kernel start"
mnt sysfs sysfs /sys
mnt devtmpfs devtmpfs /dev
# The host's /tmp and /var/tmp stay visible (read-only): a checkout or build may live there.
# Scratch space is /run/tmp; every JVM is pointed at it.
mnt tmpfs tmpfs /run mode=0755
mkdir -p /run/tmp && chmod 1777 /run/tmp
export TMPDIR=/run/tmp JAVA_TOOL_OPTIONS="-Djava.io.tmpdir=/run/tmp -XX:-UsePerfData"
mkdir -p /dev/shm /dev/pts
mnt tmpfs tmpfs /dev/shm mode=1777
# Optional file systems, when the kernel has them.
if grep -qw devpts /proc/filesystems; then mnt devpts devpts /dev/pts; fi
if grep -qw debugfs /proc/filesystems; then mnt debugfs debugfs /sys/kernel/debug; fi

cmd='' results=/run/results vfio='' profile='' cwd='' interactive=0
read -r cmdline < /proc/cmdline
for word in $cmdline; do
  case $word in
    iommufd4j.cmd=*)     cmd=${word#*=} ;;
    iommufd4j.results=*) results=${word#*=} ;;
    iommufd4j.vfio=*)    vfio=${word#*=} ;;
    iommufd4j.profile=*) profile=${word#*=} ;;
    iommufd4j.cwd=*)     cwd=${word#*=} ;;
    iommufd4j.interactive=1) interactive=1 ;;
  esac
done

# Writable results share (same path as on the host when run-vm.sh passes the host path).
mkdir -p "$results" 2>/dev/null || true
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results "$results"
echo "$up" > "$results/boot-uptime"

# Loopback for the JVM (skip if the host has no ip(8)).
if command -v ip >/dev/null; then ip link set lo up || log "ip link set lo up failed"; fi

# Bind PCI devices to vfio-pci: driver_override + drivers_probe.
for id in ${vfio//,/ }; do
  ven=0x${id%%:*} dev=0x${id#*:} found=0
  for d in /sys/bus/pci/devices/*; do
    read -r v < "$d/vendor"; read -r p < "$d/device"
    [[ $v == "${ven,,}" && $p == "${dev,,}" ]] || continue
    found=1 bdf=${d##*/}
    echo vfio-pci > "$d/driver_override"
    [ -e "$d/driver" ] && echo "$bdf" > "$d/driver/unbind"
    echo "$bdf" > /sys/bus/pci/drivers_probe || true
    if [ -e "$d/driver" ]; then
      log "$bdf ($id) bound to $(basename "$(readlink "$d/driver")"): $(ls "$d/vfio-dev" 2>/dev/null || true)"
    else
      log "$bdf ($id): vfio-pci did not bind (IOMMU group missing?)"
    fi
  done
  ((found)) || log "no PCI device $id"
done

# Run the command; its output goes to the console and to cmd.log.
rc=0
if [ -z "$cmd" ]; then
  log "no iommufd4j.cmd= on the kernel command line"; rc=127
else
  export HOME=/run/tmp IOMMUFD4J_RESULTS=$results IOMMUFD4J_PROFILE=$profile
  log "running $cmd"
  set +e
  run_cmd() (
    set -e
    cd "${cwd:-$results}"
    if [ -f "$results/guest-env.sh" ]; then . "$results/guest-env.sh"; fi
    if [ -x "$cmd" ]; then exec "$cmd"; else exec bash "$cmd"; fi
  )
  if [ "$interactive" = 1 ]; then
    # run-vm.sh --interactive: the serial console is the user's terminal.
    run_cmd </dev/console >/dev/console 2>&1
    rc=$?
  else
    run_cmd 2>&1 </dev/null | tee "$results/cmd.log"
    rc=${PIPESTATUS[0]}
  fi
  set -e
  log "$cmd exited with $rc"
fi

echo "$rc" > "$results/exitcode"
sync
umount "$results" || true
# Power off from memory: bash's builtin echo, no program loaded from the 9p root.
echo o > /proc/sysrq-trigger
SECONDS=0; while ((SECONDS < 30)); do :; done   # builtin wait for the poweroff work
exit "$rc"
