#!/usr/bin/env bash
# Runs what exists of Oqto so far: a local Kubernetes control plane (etcd + kube-apiserver +
# kube-controller-manager, built from source on first use) with the Oqto CRDs installed and the
# example Workspace and Session applied. Later issues replace this with the full single-node stack.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
hack/ensure-tools.sh
kubeconfig="$(hack/k8s/controlplane.sh up)"
kubectl="$(cat "${OQTO_CONTROLPLANE_DIR:-$repo/target/controlplane}/bin-dir")/kubectl"
export KUBECONFIG="$kubeconfig"

"$kubectl" apply --server-side --field-manager=oqto-up -f crds/
"$kubectl" wait --for=condition=Established --timeout=60s crd/workspaces.oqto.dev crd/sessions.oqto.dev
"$kubectl" apply -f crds/examples/
"$kubectl" get oqto

cat <<MSG

Oqto's API is up. To use it from this shell:
  $(hack/k8s/controlplane.sh env)
  kubectl get ws,sessions
  kubectl explain workspace.spec
Stop it with: hack/down.sh
MSG
