#!/usr/bin/env bash
# Boots a VM-test guest: the host's / read-only over virtio-9p as the guest's root,
# init.sh as PID 1, a writable 9p share for results, and runs one command in it.
#
#   run-vm.sh --kernel BZIMAGE --profile mock|intel|intel-sm|virtio --results DIR --cmd SCRIPT
#             [--timeout SECS(900)] [--mem 4G] [--smp 2] [--vfio VVVV:DDDD[,...]]
#             [--env NAME=VALUE]... [--append KERNEL_ARGS] [--qemu-arg ARG]... [--verbose]
#             [--interactive]   (the guest console is this terminal: for jshell or a shell)
#
# Profiles:  mock      no vIOMMU (the iommufd mock driver, fault-object tests)
#            intel     intel-iommu (intremap, caching-mode) + edu device bound to vfio-pci
#            intel-sm  the same in scalable mode
#            virtio    virtio-iommu + edu bound to vfio-pci (iommufd.allow_unsafe_interrupts=1)
# SCRIPT is seen in the guest at its host path (it must not be under /run or /dev: the guest
# mounts fresh file systems there; /tmp is the host's, read-only); it runs with
# IOMMUFD4J_RESULTS (the results dir, also its cwd), IOMMUFD4J_PROFILE, HOME=TMPDIR=/run/tmp,
# JAVA_TOOL_OPTIONS pointing JVMs at /run/tmp, stdin /dev/null.
# DIR receives console.log, qemu.log, cmd.log, exitcode, boot-uptime, accel (e.g. tcg,thread=single).
# Exit code: the guest command's exit code, 124 on timeout, 125 if the guest never
# reported one. On failure the last 60 console lines go to stderr.
# IOMMUFD4J_VM_VERBOSE=1 is the same as --verbose (console to stderr while it runs).
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

kernel='' profile='' results='' cmd='' timeout=900 mem=4G smp=2 vfio=unset
append='' verbose=${IOMMUFD4J_VM_VERBOSE:-0} interactive=0
envs=() qemu_extra=()
while (($#)); do
  case $1 in
    --kernel) kernel=$2; shift ;;
    --profile) profile=$2; shift ;;
    --results) results=$2; shift ;;
    --cmd) cmd=$2; shift ;;
    --timeout) timeout=$2; shift ;;
    --mem) mem=$2; shift ;;
    --smp) smp=$2; shift ;;
    --vfio) vfio=$2; shift ;;
    --env) envs+=("$2"); shift ;;
    --append) append="$append $2"; shift ;;
    --qemu-arg) qemu_extra+=("$2"); shift ;;
    --verbose|-v) verbose=1 ;;
    --interactive) interactive=1 ;;
    -h|--help) usage ;;
    *) echo "run-vm: unknown argument $1" >&2; usage ;;
  esac
  shift
done
[ -n "$kernel" ] && [ -n "$profile" ] && [ -n "$results" ] && [ -n "$cmd" ] || usage
[ -f "$kernel" ] || { echo "run-vm: no kernel $kernel" >&2; exit 2; }
[ -f "$cmd" ] || { echo "run-vm: no command $cmd" >&2; exit 2; }
mkdir -p "$results"
kernel=$(realpath "$kernel"); results=$(realpath "$results"); cmd=$(realpath "$cmd")
init=$here/init.sh
for p in "$results" "$cmd" "$init"; do   # they go on the kernel command line unquoted
  [[ $p != *[[:space:]]* ]] || { echo "run-vm: path with whitespace: $p" >&2; exit 2; }
done
# The guest mounts fresh file systems over these, hiding the host's files there.
for p in "$cmd" "$init"; do
  case $p in /run/*|/dev/*|/proc/*|/sys/*)
    echo "run-vm: $p is hidden in the guest (tmpfs/devtmpfs there); use another directory" >&2; exit 2 ;;
  esac
done

# Machine profile: vIOMMU device, kernel arguments, the edu DMA test device.
edu=(-device edu) iommu=() kargs=()
case $profile in
  mock)     edu=() ;;
  intel)    iommu=(-device intel-iommu,intremap=on,caching-mode=on); kargs=(intel_iommu=on) ;;
  intel-sm) iommu=(-device intel-iommu,intremap=on,caching-mode=on,x-scalable-mode=on)
            kargs=(intel_iommu=on,sm_on) ;;
  virtio)   iommu=(-device virtio-iommu-pci); kargs=(iommufd.allow_unsafe_interrupts=1) ;;
  *) echo "run-vm: unknown profile $profile" >&2; exit 2 ;;
esac
if [ "$vfio" = unset ]; then vfio=''; ((${#edu[@]})) && vfio=1234:11e8; fi

# KVM when /dev/kvm exists and runs a q35 machine (-cpu max) for two seconds (firmware
# only), TCG otherwise; probed once per run. Some hosts offer /dev/kvm but abort there (e.g.
# "failed to set MSR" under nested virtualisation). IOMMUFD4J_VM_ACCEL=tcg|kvm skips the probe.
accel=tcg cpu=max
case ${IOMMUFD4J_VM_ACCEL:-} in
  tcg) ;;
  kvm) accel=kvm ;;
  *) if [ -w /dev/kvm ] && ( { sleep 2; printf 'quit\n'; } | timeout 20 qemu-system-x86_64 -accel kvm -M q35 -cpu max \
          -m 256 -nodefaults -display none -monitor stdio ) >/dev/null 2>&1; then
       accel=kvm
     fi ;;
esac
# TCG runs the vCPUs on one host thread by default: with one thread per vCPU (MTTCG) a vCPU can
# translate code another vCPU is patching, and the JVM patches its compiled code while it runs
# (e.g. the 5-byte jump over a made-not-entrant method's entry): guest JVMs died of SIGSEGV at
# such half-patched entries. IOMMUFD4J_VM_TCG_THREAD=multi takes the faster, racy mode.
if [ "$accel" = kvm ]; then
  accel_args=(-accel kvm)
else
  accel_args=(-accel "tcg,thread=${IOMMUFD4J_VM_TCG_THREAD:-single}")
  # Instruction counting: the guest's clock advances by 2^shift ns per instruction the vCPUs run,
  # so a guest's timings count instructions, whatever else the host is doing (the bench's mode
  # for ratios finer than TCG's run-to-run noise). Single-threaded TCG only.
  [ -z "${IOMMUFD4J_VM_ICOUNT:-}" ] || accel_args+=(-icount "$IOMMUFD4J_VM_ICOUNT")
fi

# Fresh results from this run only.
rm -f "$results"/{exitcode,console.log,qemu.log,cmd.log,boot-uptime,guest-env.sh,accel}
echo "${accel_args[*]:1}" > "$results/accel"   # which accelerator ran it (bench/RESULTS.md records it)
if ((${#envs[@]})); then
  for e in "${envs[@]}"; do printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"; done > "$results/guest-env.sh"
fi

cmdline="root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=512000,cache=loose"
cmdline+=" ro console=ttyS0 panic=-1 init=$init ${kargs[*]}"
# TCG's TSC follows the host clock; skip the clocksource watchdog's false alarms. On a loaded
# host the IO-APIC timer check can miss its ticks under TCG and panic the intel profile's boot
# ("timer doesn't work through Interrupt-remapped IO-APIC"): skip that check too.
[ "$accel" = kvm ] || cmdline+=" tsc=reliable no_timer_check"
cmdline+=" iommufd4j.cmd=$cmd iommufd4j.results=$results iommufd4j.profile=$profile"
[ -z "$vfio" ] || cmdline+=" iommufd4j.vfio=$vfio"
cmdline+="$append"
serial=(-chardev file,id=con,path="$results/console.log" -serial chardev:con)
if [ "$interactive" = 1 ]; then
  # The guest's console is this terminal (quiet kernel, so the user sees the command's prompt).
  serial=(-serial stdio)
  cmdline+=" iommufd4j.interactive=1 quiet"
fi

qemu=(qemu-system-x86_64
  -M q35,kernel-irqchip=split "${accel_args[@]}" -cpu $cpu -m "$mem" -smp "$smp"
  -nographic -nodefaults -no-reboot -monitor none
  "${serial[@]}"
  "${iommu[@]}"
  -fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap
  -device virtio-9p-pci,fsdev=root,mount_tag=/dev/root
  -fsdev local,id=results,path="$results",security_model=none,multidevs=remap
  -device virtio-9p-pci,fsdev=results,mount_tag=results
  "${edu[@]}"
  -kernel "$kernel" -append "$cmdline"
  "${qemu_extra[@]}")

echo "[run-vm] profile $profile, ${accel_args[1]}, $(basename "$(dirname "$kernel")"), cmd $cmd" >&2
: > "$results/console.log"
tailpid=''
if [ "$verbose" = 1 ]; then tail -n +1 -F "$results/console.log" >&2 2>/dev/null & tailpid=$!; fi
start=$SECONDS
if [ "$interactive" = 1 ]; then
  set +e
  timeout --foreground -k 10 "$timeout" "${qemu[@]}" # --foreground: QEMU reads the terminal
  set -e
  exit "$(cat "$results/exitcode" 2>/dev/null || echo 125)"
fi
# QEMU under timeout(1) in the background, so that a signal to this script stops it too.
timeout -k 10 "$timeout" "${qemu[@]}" </dev/null >"$results/qemu.log" 2>&1 &
qpid=$!
# On a terminal (and without --verbose) a status line says how far the guest is, redrawn in place.
if [ "$verbose" != 1 ] && [ -t 2 ] && [ "${TERM:-dumb}" != dumb ]; then
  while kill -0 "$qpid" 2>/dev/null; do
    if [ -s "$results/boot-uptime" ]; then what="the command runs in the guest (init started $(<"$results/boot-uptime")s after the kernel)"
    else what="the guest kernel boots ($accel)"; fi
    printf '\r\033[K[run-vm] %ds: %s' $((SECONDS - start)) "$what" >&2
    sleep 1
  done &
  tailpid=$!
fi
stop_tail() {
  if [ -n "$tailpid" ]; then kill "$tailpid" 2>/dev/null || true; wait "$tailpid" 2>/dev/null || true; fi
  [ "$verbose" = 1 ] || ! [ -t 2 ] || printf '\r\033[K' >&2
}
trap 'kill -TERM "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null; stop_tail; echo "[run-vm] interrupted" >&2; exit 130' INT TERM HUP
qrc=0; wait "$qpid" || qrc=$?
trap - INT TERM HUP
wall=$((SECONDS - start))
sleep 0.3; stop_tail

if [ -s "$results/exitcode" ]; then
  rc=$(<"$results/exitcode")
elif [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  echo "[run-vm] TIMEOUT after ${timeout}s, QEMU killed" >&2; rc=124
else
  echo "[run-vm] the guest reported no exit code (QEMU exit $qrc)" >&2; rc=125
fi
up=$(cat "$results/boot-uptime" 2>/dev/null || echo '?')
echo "[run-vm] exit $rc; init started ${up}s after kernel start; VM wall time ${wall}s" >&2
if [ "$rc" != 0 ]; then
  [ ! -s "$results/qemu.log" ] || { echo "--- qemu.log" >&2; cat "$results/qemu.log" >&2; }
  echo "--- last 60 lines of $results/console.log" >&2
  tail -n 60 "$results/console.log" >&2
fi
exit "$rc"
