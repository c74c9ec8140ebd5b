#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl, and the node's kube-scheduler,
# kubelet and kube-proxy, from the Go module proxy at the versions pinned in hack/k8s/go.mod, into a cache outside the repository keyed by the Kubernetes
# version and a hash of go.sum. Prints the bin directory on stdout; progress goes to stderr.
# A warm cache returns at once; nothing prebuilt is ever downloaded.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

k8s_version="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
sum_hash="$(sha256sum go.mod go.sum | sha256sum | cut -c1-12)"
cache_root="${OQTO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oqto}"
bin="$cache_root/k8s/$k8s_version-$sum_hash/bin"
tools=(etcd kube-apiserver kube-controller-manager kubectl kube-scheduler kubelet kube-proxy)

complete=1
for t in "${tools[@]}"; do [ -x "$bin/$t" ] || complete=0; done
if [ "$complete" = 1 ]; then
  echo "control plane $k8s_version: cached in $bin" >&2
  echo "$bin"
  exit 0
fi

echo "control plane $k8s_version: building etcd, kube-apiserver, kube-controller-manager, kubectl, kube-scheduler, kubelet, kube-proxy (cold build takes 15-25 min on 2 cores)" >&2
start=$(date +%s)
tmp="$bin.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
# One invocation so the shared packages compile once and the links run in parallel.
# The etcd server module's main package is named after its directory ("server").
# Stamp the version like Kubernetes' own build does, so /version and `kubectl version` tell the truth.
minor="${k8s_version#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
go build -trimpath -ldflags="$ldflags" -o "$tmp/" \
  go.etcd.io/etcd/server/v3 \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kube-proxy
mv "$tmp/server" "$tmp/etcd"
for t in "${tools[@]}"; do [ -x "$tmp/$t" ] || { echo "build produced no $t" >&2; exit 1; }; done
mkdir -p "$(dirname "$bin")"
rm -rf "$bin" && mv "$tmp" "$bin"
echo "control plane $k8s_version: built in $(( $(date +%s) - start ))s into $bin" >&2
echo "$bin"
