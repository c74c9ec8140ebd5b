#!/usr/bin/env bash
# Podman's API socket (the Docker-compatible API the operator speaks): `up` starts a
# `podman system service` of this stack's own (OQTO_PROJECT) when nothing answers on its socket
# and prints the socket's path; `down` stops it. Each stack has its own service in a directory
# of its own, so stopping one stack never takes the API away from another on the same host, and
# the operator's container mounts the directory, not the socket file: a service started again
# makes a new socket file there, and the running operator sees it.
#
#   hack/podman/service.sh up|down
set -euo pipefail
if [ "$(id -u)" = 0 ]; then
  base=/run/podman
else
  base="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/podman"
fi
socket="${OQTO_PODMAN_SOCKET_PATH:-$base/oqto-${OQTO_PROJECT:-oqto}/podman.sock}"
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
      pid="$(cat "$pidfile")"
      kill "$pid" 2>/dev/null || true
      # Gone before `down` returns: a caller that checks right after sees it stopped.
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$pidfile" "$socket"
      rmdir "$(dirname "$socket")" 2>/dev/null || true
    fi
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
