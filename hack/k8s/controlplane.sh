#!/usr/bin/env bash
# A real Kubernetes control plane on loopback for tests and local runs: etcd, kube-apiserver and
# kube-controller-manager (garbage collection, namespace deletion). No scheduler, no kubelet: Pods
# stay Pending unless a test plays the kubelet's part.
#
#   hack/k8s/controlplane.sh up      build (cached) and start; prints the kubeconfig path
#   hack/k8s/controlplane.sh down    stop exactly the processes `up` started and remove its data
#   hack/k8s/controlplane.sh status  say whether it runs
#   hack/k8s/controlplane.sh env     print `export KUBECONFIG=… PATH=…` for a shell
#
# State lives in $OQTO_CONTROLPLANE_DIR (default: target/controlplane in the checkout).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
run="${OQTO_CONTROLPLANE_DIR:-$repo/target/controlplane}"
ready_timeout="${OQTO_CONTROLPLANE_READY_TIMEOUT:-120}"
components=(etcd kube-apiserver kube-controller-manager)

who=controlplane
# shellcheck source=hack/k8s/lib.sh
source "$here/lib.sh"

up() {
  if our_pid kube-apiserver >/dev/null; then
    log "already running ($run/kubeconfig)"
    echo "$run/kubeconfig"
    return
  fi
  down_quiet
  for tool in curl openssl python3; do
    command -v "$tool" >/dev/null || die "$tool is required (apt-get install -y $tool)"
  done
  local bin; bin="$("$here/build.sh")"
  mkdir -p "$run/pki" "$run/etcd"
  echo "$bin" >"$run/bin-dir"

  local etcd_port peer_port api_port kcm_port
  etcd_port="$(free_port)"; peer_port="$(free_port)"; api_port="$(free_port)"; kcm_port="$(free_port)"

  # Credentials for this run only: a static admin token and the service-account signing key.
  local token; token="$(openssl rand -hex 24)"
  echo "$token,admin,admin,\"system:masters\"" >"$run/tokens.csv"
  openssl genrsa -out "$run/sa.key" 2048 2>/dev/null
  chmod 600 "$run/tokens.csv" "$run/sa.key"

  local started; started=$(date +%s)
  log "starting etcd on 127.0.0.1:$etcd_port"
  start etcd "$bin/etcd" --name=oqto-test --data-dir="$run/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-cluster="oqto-test=http://127.0.0.1:$peer_port" \
    --unsafe-no-fsync=true --log-level=warn
  wait_for etcd "http://127.0.0.1:$etcd_port/health" 30

  log "starting kube-apiserver on https://127.0.0.1:$api_port"
  start kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --secure-port="$api_port" --cert-dir="$run/pki" \
    --service-cluster-ip-range=10.96.0.0/16 --allow-privileged=true --endpoint-reconciler-type=none \
    --disable-admission-plugins=ServiceAccount --authorization-mode=RBAC \
    --token-auth-file="$run/tokens.csv" \
    --service-account-issuer="https://127.0.0.1:$api_port/" \
    --service-account-signing-key-file="$run/sa.key" --service-account-key-file="$run/sa.key"
  wait_for kube-apiserver "https://127.0.0.1:$api_port/readyz" "$ready_timeout" --cacert "$run/pki/apiserver.crt"

  write_kubeconfig "$api_port" "$token"

  log "starting kube-controller-manager"
  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig="$run/kubeconfig" --authentication-kubeconfig="$run/kubeconfig" \
    --authorization-kubeconfig="$run/kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$kcm_port" --cert-dir="$run/pki-kcm" \
    --leader-elect=false --use-service-account-credentials=false \
    --service-account-private-key-file="$run/sa.key" --root-ca-file="$run/pki/apiserver.crt"
  wait_for kube-controller-manager "https://127.0.0.1:$kcm_port/healthz" 60 --insecure

  log "ready in $(( $(date +%s) - started ))s: $("$bin/kubectl" --kubeconfig "$run/kubeconfig" version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"
  echo "$run/kubeconfig"
}

write_kubeconfig() {
  local port="$1" token="$2" ca
  ca="$(base64 -w0 <"$run/pki/apiserver.crt")"
  umask 077
  cat >"$run/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: oqto-test
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $ca
users:
- name: admin
  user:
    token: $token
contexts:
- name: oqto-test
  context:
    cluster: oqto-test
    user: admin
    namespace: default
current-context: oqto-test
EOF
}

down_quiet() {
  # A node of this control plane goes first (hack/k8s/node.sh).
  OQTO_CONTROLPLANE_DIR="$run" "$here/node.sh" down
  # Reverse order: clients before the store they talk to.
  stop_ours kube-controller-manager kube-apiserver etcd
  rm -rf "$run/etcd" "$run/kubeconfig" "$run/tokens.csv" "$run/sa.key" "$run/pki" "$run/pki-kcm"
}

status() {
  local name pid all=0
  for name in "${components[@]}"; do
    if pid="$(our_pid "$name")"; then echo "$name: running ($pid)"; else echo "$name: stopped"; all=1; fi
  done
  return "$all"
}

case "${1:-}" in
  up) up ;;
  down) down_quiet ;;
  status) status ;;
  env)
    our_pid kube-apiserver >/dev/null || die "not running: hack/k8s/controlplane.sh up"
    echo "export KUBECONFIG='$run/kubeconfig' PATH=\"$(cat "$run/bin-dir"):\$PATH\""
    ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
