#!/usr/bin/env bash
# Boots the arm64 SMMUv3 guest and runs one command in it: QEMU's virt machine with its SMMUv3
# in nested mode (stage 1 + stage 2) and the edu DMA device behind it, bound to vfio-pci.
#
#   run-vm-arm64.sh --kernel IMAGE --rootfs DIR --results DIR --cmd SCRIPT [--timeout SECS(1500)]
#                   [--mem 4G] [--smp 2] [--env NAME=VALUE]... [--append KERNEL_ARGS]
#                   [--no-canwbs] [--verbose]
#
# The root is DIR (rootfs-arm64.sh) over virtio-9p (virtio-mmio transport: not behind the
# SMMU); init-arm64.sh bind-mounts, from a second, read-only 9p share of the host's /, the
# top-level directories that hold the results directory, SCRIPT, init.sh and every entry of a
# TEST_CLASSPATH given with --env (e.g. /tmp and /root for a clone in /tmp and ~/.m2), and runs
# the shared vm-tests/guest/init.sh, so SCRIPT, the jars and the results directory are seen at
# their host paths, as in the x86 guests (see vm-tests/guest/run-vm.sh for the results
# files and exit codes). The kernel gets the TEST-ONLY option arm_smmu_v3.test_assume_canwbs=1
# (smmuv3-test-assume-canwbs.patch) unless --no-canwbs. TCG runs the vCPUs on one host thread
# (as run-vm.sh explains, the JVM patches code that other vCPUs may run).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
kernel='' rootfs='' results='' cmd='' timeout=1500 mem=4G smp=2 append='' canwbs=1
verbose=${IOMMUFD4J_VM_VERBOSE:-0} envs=()
while (($#)); do
  case $1 in
    --kernel) kernel=$2; shift ;;
    --rootfs) rootfs=$2; shift ;;
    --results) results=$2; shift ;;
    --cmd) cmd=$2; shift ;;
    --timeout) timeout=$2; shift ;;
    --mem) mem=$2; shift ;;
    --smp) smp=$2; shift ;;
    --env) envs+=("$2"); shift ;;
    --append) append="$append $2"; shift ;;
    --no-canwbs) canwbs=0 ;;
    --verbose|-v) verbose=1 ;;
    *) echo "run-vm-arm64: unknown argument $1" >&2; usage ;;
  esac
  shift
done
[ -n "$kernel" ] && [ -n "$rootfs" ] && [ -n "$results" ] && [ -n "$cmd" ] || usage
command -v qemu-system-aarch64 >/dev/null || { echo "run-vm-arm64: qemu-system-aarch64 is missing (setup-arm64.sh)" >&2; exit 2; }
mkdir -p "$results"
kernel=$(realpath "$kernel"); results=$(realpath "$results"); cmd=$(realpath "$cmd"); rootfs=$(realpath "$rootfs")
init=$(realpath "$here/../guest/init.sh")
binds=()
add_bind() {   # the top-level directory of a path (and of its target), once
  local p t
  for p in "$1" "$(realpath -m "$1")"; do
    t=${p#/}; t=/${t%%/*}
    case " ${binds[*]} " in *" $t "*) ;; *) binds+=("$t") ;; esac
  done
}
for p in "$results" "$cmd" "$init"; do
  [[ $p != *[[:space:],]* ]] || { echo "run-vm-arm64: path with whitespace or a comma: $p" >&2; exit 2; }
  add_bind "$p"
done
for e in ${envs[@]+"${envs[@]}"}; do
  [[ $e == TEST_CLASSPATH=* ]] || continue
  IFS=: read -ra entries <<< "${e#*=}"
  for c in ${entries[@]+"${entries[@]}"}; do [[ $c != /* ]] || add_bind "$c"; done
done
for b in "${binds[@]}"; do
  case $b in
    /|/bin|/boot|/dev|/etc|/lib|/lib32|/lib64|/proc|/run|/sbin|/sys|/usr|/var)
      echo "run-vm-arm64: the guest needs the host's $b, which would hide the guest's own" >&2; exit 2 ;;
  esac
  [[ $b != *[[:space:],]* ]] || { echo "run-vm-arm64: directory with whitespace or a comma: $b" >&2; exit 2; }
  [ -d "$rootfs$b" ] || mkdir -p "$rootfs$b"   # its mount point in the guest's root
done
bindlist=$(IFS=,; echo "${binds[*]}")
# The guest's PID 1 lives in the root file system (the binds come after it).
cmp -s "$here/init-arm64.sh" "$rootfs/iommufd4j-init" || install -m 0755 "$here/init-arm64.sh" "$rootfs/iommufd4j-init"

rm -f "$results"/{exitcode,console.log,qemu.log,cmd.log,boot-uptime,guest-env.sh}
if ((${#envs[@]})); then
  for e in "${envs[@]}"; do printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"; done > "$results/guest-env.sh"
fi
cmdline="root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=512000,cache=loose"
cmdline+=" ro console=ttyAMA0 panic=-1 init=/iommufd4j-init iommufd4j.init=$init iommufd4j.binds=$bindlist"
cmdline+=" iommufd4j.cmd=$cmd iommufd4j.results=$results iommufd4j.profile=smmuv3 iommufd4j.vfio=1234:11e8"
[ $canwbs = 0 ] || cmdline+=" arm_smmu_v3.test_assume_canwbs=1"
cmdline+="$append"
qemu=(qemu-system-aarch64
  -M virt,iommu=smmuv3,gic-version=3 -global arm-smmuv3.stage=nested
  -accel "tcg,thread=${IOMMUFD4J_VM_TCG_THREAD:-single}" -cpu cortex-a72 -m "$mem" -smp "$smp"
  -nographic -nodefaults -no-reboot -monitor none
  -chardev file,id=con,path="$results/console.log" -serial chardev:con
  -fsdev local,id=root,path="$rootfs",security_model=none,readonly=on,multidevs=remap
  -device virtio-9p-device,fsdev=root,mount_tag=/dev/root
  -fsdev local,id=host,path=/,security_model=none,readonly=on,multidevs=remap
  -device virtio-9p-device,fsdev=host,mount_tag=host
  -fsdev local,id=results,path="$results",security_model=none,multidevs=remap
  -device virtio-9p-device,fsdev=results,mount_tag=results
  -device edu
  -kernel "$kernel" -append "$cmdline")
echo "[run-vm-arm64] $(basename "$(dirname "$kernel")"), canwbs=$canwbs, binds $bindlist, cmd $cmd" >&2
: > "$results/console.log"
tailpid=''
if [ "$verbose" = 1 ]; then tail -n +1 -F "$results/console.log" >&2 2>/dev/null & tailpid=$!; fi
start=$SECONDS
timeout -k 10 "$timeout" "${qemu[@]}" </dev/null >"$results/qemu.log" 2>&1 &
qpid=$!
trap 'kill -TERM "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null; [ -z "$tailpid" ] || kill "$tailpid" 2>/dev/null; exit 130' INT TERM HUP
qrc=0; wait "$qpid" || qrc=$?
trap - INT TERM HUP
wall=$((SECONDS - start))
if [ -n "$tailpid" ]; then sleep 0.3; kill "$tailpid" 2>/dev/null || true; wait "$tailpid" 2>/dev/null || true; fi
if [ -s "$results/exitcode" ]; then rc=$(<"$results/exitcode")
elif [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then echo "[run-vm-arm64] TIMEOUT after ${timeout}s" >&2; rc=124
else echo "[run-vm-arm64] the guest reported no exit code (QEMU exit $qrc)" >&2; rc=125
fi
echo "[run-vm-arm64] exit $rc; init started $(cat "$results/boot-uptime" 2>/dev/null || echo '?')s after kernel start; VM wall time ${wall}s" >&2
if [ "$rc" != 0 ]; then
  [ ! -s "$results/qemu.log" ] || { echo "--- qemu.log" >&2; cat "$results/qemu.log" >&2; }
  echo "--- last 60 lines of $results/console.log" >&2; tail -n 60 "$results/console.log" >&2
fi
exit "$rc"
