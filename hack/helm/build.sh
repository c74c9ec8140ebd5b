#!/usr/bin/env bash
# Builds helm from the Go module proxy at the version pinned in hack/helm/go.mod, into a cache
# outside the repository keyed by that version and a hash of go.sum. Prints the helm binary's
# path on stdout; progress goes to stderr. A warm cache returns at once.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

version="$(go list -m -f '{{.Version}}' helm.sh/helm/v3)"
sum_hash="$(sha256sum go.mod go.sum build.sh | sha256sum | cut -c1-12)"
cache_root="${OQTO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oqto}"
bin="$cache_root/helm/$version-$sum_hash/bin"
if [ -x "$bin/helm" ]; then
  echo "helm $version: cached in $bin" >&2
  echo "$bin/helm"
  exit 0
fi

echo "helm $version: building from the Go module proxy (a few minutes on 2 cores)" >&2
start=$(date +%s)
tmp="$bin.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
# Stamped like helm's own release build (its Makefile): the version, and the Kubernetes version
# of its client-go as the default of `helm template` and `helm lint` (else they assume 1.20).
client_go="$(go list -m -f '{{.Version}}' k8s.io/client-go)"   # v0.MINOR.PATCH = Kubernetes 1.MINOR
k8s_minor="$(echo "$client_go" | cut -d. -f2)"
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done
go build -trimpath -ldflags="$ldflags" -o "$tmp/helm" helm.sh/helm/v3/cmd/helm
mkdir -p "$(dirname "$bin")"
rm -rf "$bin" && mv "$tmp" "$bin"
echo "helm $version: built in $(( $(date +%s) - start ))s into $bin" >&2
echo "$bin/helm"
