#!/usr/bin/env bash
# Builds containerd, its runc shim and ctr from the Go module proxy (`go install …@version`), into a
# cache outside the repository keyed by the version. Prints the bin directory on stdout; progress
# goes to stderr. runc and the CNI plugins are Debian's (hack/k8s/node.sh installs them).
set -euo pipefail
version=v2.4.2
cache_root="${OQTO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oqto}"
bin="$cache_root/containerd/$version/bin"
tools=(containerd containerd-shim-runc-v2 ctr)

complete=1
for t in "${tools[@]}"; do [ -x "$bin/$t" ] || complete=0; done
if [ "$complete" = 1 ]; then
  echo "containerd $version: cached in $bin" >&2
  echo "$bin"
  exit 0
fi

echo "containerd $version: building containerd, containerd-shim-runc-v2, ctr (cold build takes about 4 min on 2 cores)" >&2
start=$(date +%s)
tmp="$bin.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
for t in "${tools[@]}"; do
  GOBIN="$tmp" GOFLAGS="${GOFLAGS:--buildvcs=false}" \
    go install -trimpath -ldflags="-s -w" "github.com/containerd/containerd/v2/cmd/$t@$version"
done
for t in "${tools[@]}"; do [ -x "$tmp/$t" ] || { echo "build produced no $t" >&2; exit 1; }; done
mkdir -p "$(dirname "$bin")"
rm -rf "$bin" && mv "$tmp" "$bin"
echo "containerd $version: built in $(( $(date +%s) - start ))s into $bin" >&2
echo "$bin"
