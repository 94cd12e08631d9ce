#!/usr/bin/env bash
# Starts a private Docker engine for the container launcher of the VM tests (for machines
# without a running engine, such as CI) and prints the DOCKER_HOST to use as its last stdout
# line; progress goes to stderr.
#
#   start-dockerd.sh [--stop] [--status]
#     e.g.  export DOCKER_HOST=$(vm-tests/container/start-dockerd.sh)
#
# The engine has no network of its own (--bridge=none, no iptables rules): the launcher's
# containers run with --network none, and images are built with --network host. Its state is
# kept under IOMMUFD4J_DOCKERD_DIR (default ~/.cache/iommufd4j/dockerd), so built images
# survive between runs; the daemon keeps running until --stop. Idempotent: when the engine
# already answers, it only prints its DOCKER_HOST. Needs root and dockerd (Debian's Docker
# engine package).
set -euo pipefail
dir=${IOMMUFD4J_DOCKERD_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/iommufd4j/dockerd}
# containerd's sockets live under exec-root; a unix socket path must stay under 108 bytes.
exec_root=${IOMMUFD4J_DOCKERD_EXEC_ROOT:-/run/iommufd4j-dockerd}
sock=$dir/docker.sock pidfile=$dir/dockerd.pid log=$dir/dockerd.log
host=unix://$sock

running() {
  [ -s "$pidfile" ] && kill -0 "$(<"$pidfile")" 2>/dev/null
}
answers() {
  [ -S "$sock" ] && DOCKER_HOST=$host timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

case ${1:-} in
  --stop)
    if running; then
      pid=$(<"$pidfile")
      kill -TERM "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      if kill -0 "$pid" 2>/dev/null; then echo "start-dockerd: dockerd $pid did not stop" >&2; exit 1; fi
      # dockerd leaves its default network namespace mounted under exec-root.
      ! mountpoint -q "$exec_root/netns/default" 2>/dev/null || umount "$exec_root/netns/default" || true
      echo "start-dockerd: stopped dockerd $pid" >&2
    else
      echo "start-dockerd: not running" >&2
    fi
    exit 0 ;;
  --status)
    if answers; then echo "$host"; exit 0; fi
    echo "start-dockerd: not running" >&2; exit 1 ;;
  '') ;;
  *) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

if answers; then echo "$host"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "start-dockerd: needs root (dockerd)" >&2; exit 1; }
command -v dockerd >/dev/null || { echo "start-dockerd: no dockerd (install Debian's Docker engine package)" >&2; exit 1; }
command -v docker >/dev/null || { echo "start-dockerd: no docker client (install Debian's Docker engine package)" >&2; exit 1; }
if running; then
  echo "start-dockerd: dockerd $(<"$pidfile") runs but does not answer on $sock; see $log" >&2
  exit 1
fi

mkdir -p "$dir/data" "$exec_root"
rm -f "$sock" "$pidfile"
echo "start-dockerd: starting dockerd (data $dir/data, log $log)" >&2
# setsid: the engine outlives this script and is not stopped by the caller's terminal signals.
setsid dockerd \
  --data-root "$dir/data" --exec-root "$exec_root" --pidfile "$pidfile" \
  -H "$host" --iptables=false --ip-masq=false --bridge=none \
  </dev/null >>"$log" 2>&1 &
dpid=$!
for _ in $(seq 1 120); do
  if answers; then
    echo "start-dockerd: dockerd $(<"$pidfile") ready" >&2
    echo "$host"
    exit 0
  fi
  kill -0 "$dpid" 2>/dev/null || break
  sleep 0.5
done
echo "start-dockerd: dockerd did not come up; last lines of $log:" >&2
tail -n 30 "$log" >&2
exit 1
