#!/usr/bin/env bash
# Runs inside the guest (run-vm.sh --cmd): the contract suite against the kernel's iommufd,
# with the host's JDK and the built jars seen through the 9p root. JUnit XML goes to the
# results share, where the host-side test reads it.
#   env: JAVA, CONSOLE_JAR, TEST_CLASSPATH, SELECT (JUnit selectors), JAVA_OPTS, IOMMUFD4J_RESULTS
set -u
cd "$IOMMUFD4J_RESULTS"
echo "guest-suite: classpath ${TEST_CLASSPATH:-unset}, select ${SELECT:-unset}"
echo "guest-suite: kernel $(uname -r), profile ${IOMMUFD4J_PROFILE:-?}, uptime $(cut -d' ' -f1 /proc/uptime)s"
# shellcheck disable=SC2086
"$JAVA" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Djava.io.tmpdir=${TMPDIR:-/run/tmp} \
  --enable-native-access=ALL-UNNAMED -Diommufd4j.backend=NATIVE ${JAVA_OPTS:-} \
  -jar "$CONSOLE_JAR" execute --disable-banner --details=summary --disable-ansi-colors \
  --class-path "$TEST_CLASSPATH" $SELECT --reports-dir "$IOMMUFD4J_RESULTS/junit"
rc=$?
echo "guest-suite: exit $rc, uptime $(cut -d' ' -f1 /proc/uptime)s"
exit $rc
