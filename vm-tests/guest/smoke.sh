#!/usr/bin/env bash
# Smoke test run inside the guest (run-vm.sh --cmd .../smoke.sh): kernel, /dev/iommu,
# IOMMUs, the vfio cdev of the edu device (profiles with a vIOMMU), and the host's JDK.
set -euo pipefail
java=${JAVA:-/usr/lib/jvm/temurin-25-jdk-amd64/bin/java}
now() { read -r t _ < /proc/uptime; echo "$t"; }
echo "smoke: uptime at start $(now)s, kernel $(uname -r), profile ${IOMMUFD4J_PROFILE:-?}"

test -c /dev/iommu || { echo "smoke: FAIL no /dev/iommu"; exit 1; }
echo "smoke: /dev/iommu ok"
echo "smoke: /sys/class/iommu: $(ls /sys/class/iommu 2>/dev/null | tr '\n' ' ')"
for g in /sys/kernel/iommu_groups/*; do
  [ -e "$g" ] && echo "smoke: group ${g##*/}: $(ls "$g/devices" | tr '\n' ' ') type $(cat "$g/type" 2>/dev/null || echo -)"
done

case ${IOMMUFD4J_PROFILE:-} in
  intel|intel-sm|virtio)
    test -c /dev/vfio/devices/vfio0 || { echo "smoke: FAIL no /dev/vfio/devices/vfio0"; ls -lR /dev/vfio || true; exit 1; }
    echo "smoke: /dev/vfio/devices/vfio0 ok"
    ;;
esac

t0=$(now)
"$java" -version 2>&1
t1=$(now)
echo "smoke: java -version took $(echo "$t1 - $t0" | bc)s"
echo "smoke: OK at uptime $(now)s"
