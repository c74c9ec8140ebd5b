#!/usr/bin/env bash
# A real Kubernetes control plane for tests and local runs: etcd, kube-apiserver and
# kube-controller-manager (garbage collection, namespace deletion, service-account tokens). No
# scheduler, no kubelet: Pods stay Pending unless a test plays the kubelet's part or
# hack/k8s/node.sh adds a node. The apiserver listens on all addresses (token authentication;
# anonymous requests get only what RBAC gives them: health and version) and advertises the node's
# bridge address, 10.244.0.1, as the `kubernetes` Service's endpoint: Pods on the node reach it
# through kube-proxy, with the service-account token the ServiceAccount admission plugin mounts.
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

  # A CA and a serving certificate for every name the apiserver is reached by: loopback (the
  # tests), the node's bridge address and the `kubernetes` Service (Pods). The bundle (serving
  # certificate, then the CA) is what clients trust, in the kubeconfig and in Pods.
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=oqto-test-ca" \
    -keyout "$run/pki/ca.key" -out "$run/pki/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$run/pki/apiserver.key" -out "$run/pki/apiserver.csr" 2>/dev/null
  printf '%s\n' \
    "subjectAltName=IP:127.0.0.1,IP:10.244.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
    "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
    >"$run/pki/serving.ext"
  openssl x509 -req -in "$run/pki/apiserver.csr" -CA "$run/pki/ca.crt" -CAkey "$run/pki/ca.key" \
    -CAcreateserial -days 7 -extfile "$run/pki/serving.ext" -out "$run/pki/serving.crt" 2>/dev/null
  cat "$run/pki/serving.crt" "$run/pki/ca.crt" >"$run/pki/apiserver.crt"
  chmod 600 "$run/pki/ca.key" "$run/pki/apiserver.key"

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
    --etcd-servers="http://127.0.0.1:$etcd_port" --bind-address=0.0.0.0 --advertise-address=10.244.0.1 \
    --secure-port="$api_port" --tls-cert-file="$run/pki/apiserver.crt" --tls-private-key-file="$run/pki/apiserver.key" \
    --service-cluster-ip-range=10.96.0.0/16 --allow-privileged=true --authorization-mode=RBAC \
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
