#!/usr/bin/env bash
# A throwaway PostgreSQL server (Debian's) for the tests of the gateway's shared accounts store.
#
#   hack/postgres/server.sh up [--listen ADDRESSES]   start one (or reuse the running one); prints its URL
#   hack/postgres/server.sh url                       the running server's URL
#   hack/postgres/server.sh down                      stop it and delete its data
#
# State lives in $OQTO_POSTGRES_DIR (default target/postgres). The server listens on
# 127.0.0.1 (or ADDRESSES, e.g. a bridge address Pods reach) at a free port, with a generated
# password for the role `oqto` (SCRAM over TCP, as a team's database would ask). PostgreSQL
# refuses to run as root, so as root it runs as the `postgres` user the Debian package made.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
run="${OQTO_POSTGRES_DIR:-$repo/target/postgres}"
who=postgres
# shellcheck source=../k8s/lib.sh
. "$repo/hack/k8s/lib.sh"

bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -x "$dir/postgres" ] || die "no PostgreSQL server: install Debian's postgresql (hack/ensure-tools.sh does)"
  echo "$dir"
}

# The prefix that runs a PostgreSQL program as the user owning the data. setpriv execs, so the
# pid `start` records is the server's own.
as_owner=()
[ "$(id -u)" != 0 ] || as_owner=(setpriv --reuid=postgres --regid=postgres --init-groups --)

up() {
  local listen=127.0.0.1
  while [ $# -gt 0 ]; do
    case "$1" in
      --listen) listen="$2"; shift 2 ;;
      *) die "unknown argument $1" ;;
    esac
  done
  if our_pid server >/dev/null && [ -f "$run/url" ]; then
    log "already running"
    cat "$run/url"
    return
  fi
  local bin port password
  bin="$(bindir)"
  rm -rf "$run" && mkdir -p "$run/data" "$run/socket"
  password="$(openssl rand -hex 16)"
  printf '%s\n' "$password" >"$run/password"
  chmod 600 "$run/password"
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$run/data" "$run/socket" "$run/password"; fi
  log "initdb in $run/data"
  "${as_owner[@]}" "$bin/initdb" -D "$run/data" -U oqto --pwfile="$run/password" \
    --auth-local=trust --auth-host=scram-sha-256 --no-sync -E UTF8 --locale=C.UTF-8 >"$run/initdb.log" 2>&1 \
    || { cat "$run/initdb.log" >&2; die "initdb failed"; }
  # Pods on the node's bridge reach the server through the bridge address.
  echo "host all all 10.244.0.0/16 scram-sha-256" >>"$run/data/pg_hba.conf"
  port="$(free_port)"
  start server "${as_owner[@]}" "$bin/postgres" -D "$run/data" -p "$port" -c listen_addresses="$listen" \
    -k "$run/socket" -c fsync=off -c max_connections=200
  local deadline=$(( $(date +%s) + 30 ))
  until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; do
    started_alive server || { tail -n 20 "$run/server.log" >&2; die "postgres exited during start"; }
    [ "$(date +%s)" -lt "$deadline" ] || { tail -n 20 "$run/server.log" >&2; die "postgres not ready after 30s"; }
    sleep 0.2
  done
  echo "postgres://oqto:$password@127.0.0.1:$port/postgres" >"$run/url"
  chmod 600 "$run/url"
  log "listening on $listen:$port ($("$bin/postgres" --version))"
  cat "$run/url"
}

down() {
  local pid
  if pid="$(our_pid server)"; then
    # SIGINT is the fast shutdown: clients are disconnected, not waited for.
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped ($pid)"
  fi
  rm -rf "$run"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  url) cat "$run/url" ;;
  down) down ;;
  *) echo "usage: $0 up [--listen ADDRESSES] | url | down" >&2; exit 2 ;;
esac
