#!/usr/bin/env bash
# Builds the web UI into frontend/dist (the gateway image serves it): installs the npm packages
# package-lock.json pins when they changed, type-checks, bundles with Vite.
#
#   hack/frontend/build.sh           install + typecheck + build
#   hack/frontend/build.sh install   install only (the unit and browser tests need no bundle)
set -euo pipefail
frontend="$(cd "$(dirname "$0")/../../frontend" && pwd)"
cd "$frontend"
say() { echo "    [frontend] $*" >&2; }

# npm ci wipes node_modules: run it only when the lock file is newer than the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
[ "${1:-}" = install ] && exit 0
say "type-checking"
npx tsc --noEmit -p . >&2
say "bundling with Vite"
npx vite build --logLevel warn >&2
say "built frontend/dist"
