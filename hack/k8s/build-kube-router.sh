#!/usr/bin/env bash
# Builds kube-router (only its NetworkPolicy controller is run: iptables and ipset rules, the
# node's policy engine) from the Go module proxy (`go install …@version`), into a cache outside
# the repository keyed by the version. Prints the bin directory on stdout; progress goes to stderr.
# Why kube-router: sigs.k8s.io/kube-network-policies builds but needs the kernel's nftables
# `queue` expression, which this machine lacks; kube-router's iptables rules need ip_set and
# br_netfilter, which it has. v2.1.0 is the only version the proxy serves, and security flaws are
# reported against it: it is test infrastructure here, never shipped or run by the chart.
set -euo pipefail
version=v2.1.0
cache_root="${OQTO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oqto}"
bin="$cache_root/kube-router/$version/bin"

if [ -x "$bin/kube-router" ]; then
  echo "kube-router $version: cached in $bin" >&2
  echo "$bin"
  exit 0
fi

echo "kube-router $version: building (cold build takes about 5 min on 2 idle cores)" >&2
start=$(date +%s)
tmp="$bin.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
GOBIN="$tmp" GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0 \
  go install -trimpath -ldflags="-s -w" "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$version"
[ -x "$tmp/kube-router" ] || { echo "build produced no kube-router" >&2; exit 1; }
mkdir -p "$(dirname "$bin")"
rm -rf "$bin" && mv "$tmp" "$bin"
echo "kube-router $version: built in $(( $(date +%s) - start ))s into $bin" >&2
echo "$bin"
