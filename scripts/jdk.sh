# Sourced by the project's scripts: selects a JDK 25+ (JAVA_HOME if it is one, else the
# newest /usr/lib/jvm/*) and quiets Maven's own Unsafe warnings on new JDKs.
_jdk_ok() { [ -x "$1/bin/java" ] && "$1/bin/java" -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); exit !(v[1] >= 25)}'; }
if [ -z "${JAVA_HOME:-}" ] || ! _jdk_ok "$JAVA_HOME"; then
  JAVA_HOME=
  for d in /usr/lib/jvm/temurin-25-jdk-amd64 $(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -rV); do
    if _jdk_ok "${d%/}"; then JAVA_HOME=${d%/}; break; fi
  done
  [ -n "$JAVA_HOME" ] || { echo "iommufd4j needs JDK 25 or newer (none found under /usr/lib/jvm; set JAVA_HOME)" >&2; exit 1; }
fi
export JAVA_HOME PATH="$JAVA_HOME/bin:$PATH"
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
