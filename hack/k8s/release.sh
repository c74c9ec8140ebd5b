#!/usr/bin/env bash
# The chart installed on the node of hack/k8s/node.sh as a team would run it, for trying the
# product on Kubernetes and for the browser test against the cluster (hack/test.sh):
# the images imported into the node, the web UI through the node's Traefik at
# http://localhost:<ingress port>, two gateway replicas on a PostgreSQL database when
# hack/postgres/server.sh runs (listening on the node's bridge; otherwise one, on SQLite), Workspaces'
# runners on the node, sessions on the demo LLM (scripted answers, not a real LLM) on this host.
#
#   hack/k8s/release.sh up [--llm-port PORT]   install (or upgrade); prints the UI's URL. The admin
#                                              is `admin`, the password in $run/release/admin-password.
#                                              The demo LLM must listen on PORT (default 8090) on
#                                              all addresses (hack/up.sh's demo-llm does); its
#                                              key is read from $OQTO_HOME/llm-proxy.env.
#   hack/k8s/release.sh scale-gateways N       stop (0) or start the gateways
#   hack/k8s/release.sh kill-carrier           kill the gateway Pod that holds a WebSocket
#   hack/k8s/release.sh spares                 the Running warm spare Sessions, one name per line
#                                              (OQTO_WARM_SPARES=true at `up` turns them on)
#   hack/k8s/release.sh down                   delete the Workspaces, uninstall, remove the namespaces
#
# Needs: hack/k8s/controlplane.sh up; hack/k8s/node.sh up --ingress; the images built
# (hack/images/build.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
run="${OQTO_CONTROLPLANE_DIR:-$repo/target/controlplane}"
who=release
# shellcheck source=hack/k8s/lib.sh
source "$here/lib.sh"

RELEASE=oqto
NAMESPACE=oqto-system
WORKSPACES=oqto-system-workspaces
HOST_IP=10.244.0.1
# The LLM proxy's ClusterIP (the node resolves no Service names).
PROXY_IP=10.96.0.92
# The gateway's, where runners reach it for delegation (the same reason).
GATEWAY_IP=10.96.0.93
# The host as an internet address (node.sh): Restricted runners reach the demo LLM there.
PUBLIC_IP=198.51.100.1
TAINT_KEY=oqto.dev/test-node

kubectl_() { "$(cat "$run/bin-dir")/kubectl" --kubeconfig "$run/kubeconfig" "$@"; }
helm_() { KUBECONFIG="$run/kubeconfig" "$("$repo/hack/helm/build.sh")" "$@"; }

up() {
  local llm_port=8090
  while [ $# -gt 0 ]; do
    case "$1" in
      --llm-port) llm_port="$2"; shift 2 ;;
      *) die "unknown argument $1" ;;
    esac
  done
  [ -f "$run/node/ingress-address" ] || die "no node with an ingress: hack/k8s/node.sh up --ingress"
  mkdir -p "$run/release"
  "$here/node.sh" import localhost/oqto-runner:dev localhost/oqto-browser:dev localhost/oqto-gateway:dev \
    localhost/oqto-operator:dev localhost/oqto-llm-proxy:dev
  kubectl_ create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl_ apply -f - >/dev/null

  local gateway="replicas: 1
  persistence: {storageClassName: oqto-node, size: 1Gi}"
  local pg_url
  if pg_url="$("$repo/hack/postgres/server.sh" url 2>/dev/null)"; then
    psql -q "$pg_url" -c "CREATE DATABASE oqto_release" 2>/dev/null || true
    pg_url="${pg_url/@127.0.0.1:/@$HOST_IP:}"
    kubectl_ -n "$NAMESPACE" create secret generic oqto-database \
      --from-literal=url="${pg_url%/*}/oqto_release" --dry-run=client -o yaml | kubectl_ apply -f - >/dev/null
    gateway="replicas: 2
  database: {existingSecret: oqto-database}"
    log "two gateways on PostgreSQL"
  else
    log "no PostgreSQL (hack/postgres/server.sh up --listen 127.0.0.1,$HOST_IP): one gateway on SQLite"
  fi
  # The demo provider answers only the key hack/up.sh gave it; the LLM proxy holds it.
  local demo_env="${OQTO_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/oqto}/llm-proxy.env" demo_key
  demo_key="$(sed -n 's/^SCRIPTED_LLM_API_KEY=//p' "$demo_env" 2>/dev/null || true)"
  [ -n "$demo_key" ] || die "no demo provider key in $demo_env: start the single-node stack's demo provider with hack/up.sh first"
  kubectl_ -n "$NAMESPACE" create secret generic oqto-llm-upstream --from-literal=SCRIPTED_LLM_API_KEY="$demo_key" \
    --dry-run=client -o yaml | kubectl_ apply -f - >/dev/null
  cat >"$run/release/values.yaml" <<EOF
image: {registry: localhost, tag: dev, pullPolicy: Never}
operator:
  replicas: 1
  warmSpares: ${OQTO_WARM_SPARES:-false}
  tolerations: [{key: $TAINT_KEY, operator: Exists}]
gateway:
  $gateway
  tolerations: [{key: $TAINT_KEY, operator: Exists}]
  ingress: {enabled: true, className: oqto, host: localhost}
  trustedProxies: [$HOST_IP/32]
  service: {clusterIP: $GATEWAY_IP}
  runnerUrl: http://$GATEWAY_IP:80
workspaceClasses:
  classes:
    standard:
      displayName: Standard
      network: {egress: Restricted}
      storage: {storageClassName: oqto-node, maxSize: 50Gi}
      runner: {tolerations: [{key: $TAINT_KEY, operator: Exists}]}
      llm:
        provider: oqto
        model: demo-not-a-real-llm
# Runners reach the demo LLM through the proxy, which alone holds its key. The node resolves no
# Service names: a fixed ClusterIP.
llmProxy:
  enabled: true
  providers:
    - {name: oqto-demo, api: openai-completions, baseUrl: "http://$PUBLIC_IP:$llm_port/v1", apiKeyEnv: SCRIPTED_LLM_API_KEY}
  models:
    - {provider: oqto-demo, id: demo-not-a-real-llm, contextWindow: 128000, maxTokens: 16384, reasoning: true}
  existingSecret: oqto-llm-upstream
  url: http://$PROXY_IP:8091
  service: {clusterIP: $PROXY_IP}
  persistence: {storageClassName: oqto-node}
  tolerations: [{key: $TAINT_KEY, operator: Exists}]
EOF
  log "helm upgrade --install $RELEASE (waits for the Pods)"
  helm_ upgrade --install "$RELEASE" "$repo/charts/oqto" --namespace "$NAMESPACE" \
    --values "$run/release/values.yaml" --wait --timeout 300s >&2
  (umask 077 && kubectl_ -n "$NAMESPACE" get secret "$RELEASE-admin" -o jsonpath='{.data.password}' |
    base64 -d >"$run/release/admin-password")
  local url
  url="http://localhost:$(cut -d: -f2 "$run/node/ingress-address")"
  wait_for_url "$url/readyz"
  log "the web UI: $url (admin, password in $run/release/admin-password)"
  echo "$url"
}

wait_for_url() {
  local deadline=$(( $(date +%s) + 120 ))
  until curl -fsS --max-time 2 "$1" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || die "$1 did not answer through the ingress after 120s"
    sleep 0.5
  done
}

# The gateways stopped (0: returns once their Pods are gone) and started again (the chart's
# count), for the browser test's "reconnects by itself" step.
scale_gateways() {
  kubectl_ -n "$NAMESPACE" scale deployment "$RELEASE-gateway" --replicas "$1" >/dev/null
  if [ "$1" = 0 ]; then
    kubectl_ -n "$NAMESPACE" wait --for=delete pod -l app.kubernetes.io/name=oqto-gateway --timeout 90s >/dev/null
  fi
}

# Kills (no grace: as a crashed node would) the gateway Pod that holds a mux WebSocket now,
# found by its oqto_gateway_mux_connections; fails when none does.
kill_carrier() {
  local pod ip open
  while read -r pod ip; do
    open="$(curl -fsS --max-time 2 "http://$ip:8080/metrics" | awk '$1 == "oqto_gateway_mux_connections" {print int($2)}')"
    if [ "${open:-0}" -ge 1 ]; then
      kubectl_ -n "$NAMESPACE" delete pod "$pod" --grace-period=0 --force >/dev/null 2>&1
      log "killed gateway $pod ($open connections)"
      return 0
    fi
  done < <(kubectl_ -n "$NAMESPACE" get pods -l app.kubernetes.io/name=oqto-gateway \
    -o jsonpath='{range .items[*]}{.metadata.name} {.status.podIP}{"\n"}{end}')
  die "no gateway holds a connection"
}

spares() {
  kubectl_ -n "$WORKSPACES" get sessions -l oqto.dev/spare=true \
    -o jsonpath='{range .items[?(@.status.phase=="Running")]}{.metadata.name}{"\n"}{end}'
}

down() {
  # Workspaces first, while the operator runs: their finalizer is its cascade.
  kubectl_ -n "$WORKSPACES" delete workspaces --all --wait --timeout 120s >/dev/null 2>&1 || true
  helm_ uninstall "$RELEASE" --namespace "$NAMESPACE" --wait --timeout 120s >&2 2>/dev/null || true
  kubectl_ delete namespace "$WORKSPACES" "$NAMESPACE" --ignore-not-found --wait=false >/dev/null
  rm -rf "$run/release"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  scale-gateways) scale_gateways "${2:?how many}" ;;
  kill-carrier) kill_carrier ;;
  spares) spares ;;
  down) down ;;
  *) echo "usage: $0 up [--llm-port PORT] | scale-gateways N | kill-carrier | spares | down" >&2; exit 2 ;;
esac
