#!/usr/bin/env bash
# Runs in the guest for ContainerLauncherTest (run-vm.sh --cmd): checks /dev/iommu, then
# runs guest-suite.sh (the contract tests that SELECT chooses). Same environment as that.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
echo "guest-smoke: kernel $(uname -r), profile ${IOMMUFD4J_PROFILE:-?}, uptime $(cut -d' ' -f1 /proc/uptime)s"
test -c /dev/iommu || { echo "guest-smoke: FAIL no /dev/iommu"; exit 3; }
echo "guest-smoke: /dev/iommu ok"
exec bash "$here/../guest-suite.sh"
