# Helpers of hack/k8s/controlplane.sh and hack/k8s/node.sh: processes they start, found again by
# pid file and run directory. Sourced with $run (the state directory) and $who (the log prefix) set.

log() { echo "$who: $*" >&2; }
die() { log "error: $*"; exit 1; }
# The pid of a component we started, if that process still runs and is still ours (its command
# line names our run directory), so `down` never kills a stranger that reused the pid.
our_pid() {
  local pidfile="$run/$1.pid" pid
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$run" || return 1
  echo "$pid"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local name="$1"; shift
  "$@" >"$run/$name.log" 2>&1 &
  echo $! >"$run/$name.pid"
}

# Whether the process `start` just launched still runs. Not `our_pid`: until the forked shell has
# exec'd the binary, its command line is this script's, without the run directory, and a loaded
# machine can take longer to get there than curl takes to be refused (a CI run failed on it).
started_alive() { kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

wait_for() { # name url timeout [curl args]
  local name="$1" url="$2" timeout="$3"; shift 3
  local deadline=$(( $(date +%s) + timeout ))
  until curl -fsS --max-time 2 "$@" "$url" >/dev/null 2>&1; do
    started_alive "$name" || { tail -n 30 "$run/$name.log" >&2; die "$name exited during start (log: $run/$name.log)"; }
    [ "$(date +%s)" -lt "$deadline" ] || { tail -n 30 "$run/$name.log" >&2; die "$name not ready at $url after ${timeout}s (log: $run/$name.log)"; }
    sleep 0.5
  done
}

# Stops the named components we started, in the order given.
stop_ours() {
  local name pid
  for name in "$@"; do
    if pid="$(our_pid "$name")"; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      log "stopped $name ($pid)"
    fi
    rm -f "$run/$name.pid"
  done
}
