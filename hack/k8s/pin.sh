#!/usr/bin/env bash
# Pins the control plane to one Kubernetes release: rewrites go.mod/go.sum with a replace for
# every staging module that k8s.io/kubernetes@VERSION lists (they are v0.0.0 there), the tools
# (kube-apiserver, kube-controller-manager, kubectl, kube-scheduler, kubelet, kube-proxy) and etcd at the version that graph selects.
# Usage: hack/k8s/pin.sh v1.37.2   then commit go.mod and go.sum.
set -euo pipefail
KV="${1:?usage: hack/k8s/pin.sh v1.Y.Z}"
SV=v0.${KV#v1.}
cd "$(dirname "${BASH_SOURCE[0]}")"
rm -f go.mod go.sum
go mod init oqto.dev/hack/k8s
go mod edit -go=1.26.0
mod=$(go mod download -json k8s.io/kubernetes@$KV | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
for m in $(grep -oE '^\s*k8s.io/[a-z0-9-]+ => ./staging' "$mod" | awk '{print $1}'); do
  go mod edit -replace "$m=$m@$SV"
done
go get -tool k8s.io/kubernetes/cmd/kube-apiserver@$KV k8s.io/kubernetes/cmd/kube-controller-manager@$KV k8s.io/kubernetes/cmd/kubectl@$KV \
  k8s.io/kubernetes/cmd/kube-scheduler@$KV k8s.io/kubernetes/cmd/kubelet@$KV k8s.io/kubernetes/cmd/kube-proxy@$KV
EV=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
echo etcd $EV
go get -tool go.etcd.io/etcd/server/v3@$EV
go mod tidy
