#!/usr/bin/env bash
# Podman's API socket (the Docker-compatible API the operator speaks), for hosts without
# systemd's podman.socket: `up` starts `podman system service` when nothing answers on the socket
# and prints the socket's path; `down` stops the service only if `up` started it.
#
#   hack/podman/service.sh up|down
set -euo pipefail
if [ "$(id -u)" = 0 ]; then
  socket="${OQTO_PODMAN_SOCKET_PATH:-/run/podman/podman.sock}"
else
  socket="${OQTO_PODMAN_SOCKET_PATH:-${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/podman/podman.sock}"
fi
pidfile="$(dirname "$socket")/oqto-service.pid"

answers() { curl -fsS --max-time 2 --unix-socket "$socket" http://d/v1.41/_ping >/dev/null 2>&1; }

case "${1:-}" in
  up)
    if ! answers; then
      mkdir -p "$(dirname "$socket")"
      rm -f "$socket"
      setsid podman system service --time=0 "unix://$socket" </dev/null >/dev/null 2>&1 &
      echo $! > "$pidfile"
      for _ in $(seq 1 100); do answers && break; sleep 0.1; done
      answers || { echo "podman system service did not answer on $socket" >&2; exit 1; }
      echo "started podman system service on $socket (pid $(cat "$pidfile"))" >&2
    fi
    echo "$socket"
    ;;
  down)
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
