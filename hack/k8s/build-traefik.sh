#!/usr/bin/env bash
# Builds Traefik v3 (the Ingress controller for the ingress class `oqto` on a node here) from the
# Go module proxy, into a cache outside the repository keyed by the version. Prints the bin
# directory on stdout; progress goes to stderr.
# `go install …/cmd/traefik@version` refuses: Traefik's go.mod has replace directives (a local
# `./pkg/config/dynamic/ext` and two forks). So the module is downloaded into the module cache,
# copied to a temporary directory and built there as the main module, where its go.mod, replace
# directives and go.sum apply exactly as upstream's release build uses them. The web UI's assets
# are not in the module (the dashboard would be empty); it is not used here.
# v3.6.12 is the newest that builds from the proxy: the v3.7 line (v3.7.11–13) cannot, since its
# replace target ./pkg/config/dynamic/ext is a nested module left out of the module's zip (and
# github.com/traefik/traefik/dynamic/ext is not served), and the proxy refuses some of its
# dependencies (github.com/containous/go-http-auth at its fork's version, and lego v5's DNS SDKs).
set -euo pipefail
version=v3.6.12
module=github.com/traefik/traefik/v3
cache_root="${OQTO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oqto}"
bin="$cache_root/traefik/$version/bin"

if [ -x "$bin/traefik" ]; then
  echo "traefik $version: cached in $bin" >&2
  echo "$bin"
  exit 0
fi

echo "traefik $version: building (cold build takes about 8 min on 2 idle cores, 15 min beside another build; 3 GB RAM)" >&2
start=$(date +%s)
tmp="$bin.tmp.$$"
src="$(mktemp -d)"
rm -rf "$tmp" && mkdir -p "$tmp"
trap 'rm -rf "$tmp"; chmod -R u+w "$src" 2>/dev/null; rm -rf "$src"' EXIT
dir="$(cd "$src" && go mod download -json "$module@$version" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
[ -f "$dir/go.mod" ] || { echo "go mod download gave no module directory for $module@$version" >&2; exit 1; }
cp -r "$dir/." "$src/" && chmod -R u+w "$src"
(cd "$src" && CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath \
  -ldflags="-s -w -X $module/pkg/version.Version=$version -X $module/pkg/version.Codename=oqto" \
  -o "$tmp/traefik" ./cmd/traefik)
[ -x "$tmp/traefik" ] || { echo "build produced no traefik" >&2; exit 1; }
mkdir -p "$(dirname "$bin")"
rm -rf "$bin" && mv "$tmp" "$bin"
echo "traefik $version: built in $(( $(date +%s) - start ))s into $bin" >&2
echo "$bin"
