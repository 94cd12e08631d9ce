#!/usr/bin/env bash
# Runs inside the guest (run-vm.sh --cmd): the selected tests from the host's test class path
# with the JUnit Platform (GuestMain), against the kernel's iommufd. The outcomes go to the
# results share, where the host-side extension reads them.
#   env: JAVA, TEST_CLASSPATH, SELECT (GuestMain selectors), JAVA_OPTS, IOMMUFD4J_RESULTS
set -u
cd "$IOMMUFD4J_RESULTS"
echo "guest-run: kernel $(uname -r), profile ${IOMMUFD4J_PROFILE:-?}, uptime $(cut -d' ' -f1 /proc/uptime)s"
# shellcheck disable=SC2086
"$JAVA" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Djava.io.tmpdir=${TMPDIR:-/run/tmp} \
  --enable-native-access=ALL-UNNAMED -Diommufd4j.backend=NATIVE ${JAVA_OPTS:-} \
  -cp "$TEST_CLASSPATH" io.github.iommufd4j.junit.GuestMain "$IOMMUFD4J_RESULTS/outcomes.bin" $SELECT
rc=$?
echo "guest-run: exit $rc, uptime $(cut -d' ' -f1 /proc/uptime)s"
exit $rc
