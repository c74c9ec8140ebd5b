#!/usr/bin/env bash
# A real node for the control plane of hack/k8s/controlplane.sh: containerd (with Debian's runc and
# CNI plugins, a bridge network), kube-scheduler, a kubelet and kube-proxy, so that Pods really run
# and reach the apiserver through the `kubernetes` Service. Images are
# never pulled: they are imported from Podman (`podman save` → `ctr images import`), the sandbox
# ("pause") image included, which is built here from hack/k8s/pause.
#
#   hack/k8s/node.sh up [--no-scheduler] [--taint KEY=VALUE:EFFECT] [--ingress] [--netpol] [image…]
#                                    start (the control plane must be up); import the images.
#                                    --no-scheduler: Pods run only once bound to the node by hand.
#                                    --taint: the node registers with it, so only Pods that
#                                    tolerate it are scheduled there (hack/test.sh: the tests
#                                    that play the kubelet keep their Pods to themselves)
#                                    --ingress: Traefik (build-traefik.sh) serves the Ingresses of
#                                    the IngressClass `oqto` on 127.0.0.1 at the port written to
#                                    $OQTO_CONTROLPLANE_DIR/node/ingress-address
#                                    --netpol: NetworkPolicies enforced (kube-router's policy
#                                    controller, build-kube-router.sh)
#   hack/k8s/node.sh import image…   import more images into the node
#   hack/k8s/node.sh down            stop exactly what `up` started, its Pods, and remove its data
#
# This machine is a container with cgroup v1 controllers: the kubelet runs with failCgroupV1 false,
# no per-QoS cgroups and no node-allocatable enforcement; containerd may not lower oom_score_adj
# (environment.md §8). kube-proxy runs in iptables mode (its conntrack tuning off: a container may
# not set those sysctls): the operator's and the gateway's Pods reach the apiserver on its Service
# address, 10.96.0.1; the gateway still reaches runners on their Pod's IP.
#
# The bridge (10.244.0.1, oqto_e2e::NODE_HOST_IP) is made before the first Pod, so that services
# on the host (the scripted LLM, PostgreSQL) can listen on it from the start. The host also
# answers at 198.51.100.1 (TEST-NET-2, oqto_e2e::NODE_PUBLIC_IP): an address outside every private
# range, so that a Restricted runner reaches a service there as it would one on the internet.
#
# State lives in $OQTO_CONTROLPLANE_DIR/node (default: target/controlplane/node in the checkout).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
run="${OQTO_CONTROLPLANE_DIR:-$repo/target/controlplane}"
node="$run/node"
who=node
# shellcheck source=hack/k8s/lib.sh
source "$here/lib.sh"

NODE_NAME=oqto-node
POD_CIDR=10.244.0.0/24
BRIDGE=oqto-cni0
PAUSE_IMAGE=localhost/oqto-pause:dev

ctr_() { "$(cat "$node/containerd-bin")/ctr" --address "$node/containerd.sock" -n k8s.io "$@"; }
kubectl_() { "$(cat "$run/bin-dir")/kubectl" --kubeconfig "$run/kubeconfig" "$@"; }

install_packages() {
  local missing=()
  [ -x /usr/sbin/runc ] || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  command -v ipset >/dev/null || missing+=(ipset)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
}

pause_image() {
  podman image exists "$PAUSE_IMAGE" && return
  log "building the sandbox image $PAUSE_IMAGE"
  local dir; dir="$(mktemp -d)"
  (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$dir/pause" ./pause)
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$dir/Containerfile"
  podman build -q -t "$PAUSE_IMAGE" "$dir" >/dev/null 2>&1 || podman build -t "$PAUSE_IMAGE" "$dir" >&2
  rm -rf "$dir"
}

import() {
  [ "$#" -gt 0 ] || return 0
  local started out; started=$(date +%s)
  podman save -q --multi-image-archive -o "$node/images.tar" "$@"
  out="$(ctr_ images import "$node/images.tar" 2>&1)" || { echo "$out" >&2; die "importing $* failed"; }
  rm -f "$node/images.tar"
  log "imported $* in $(( $(date +%s) - started ))s"
}

write_configs() {
  mkdir -p "$node/cni" "$node/containerd" "$node/kubelet" "$node/volumes"
  cat >"$node/containerd.toml" <<EOF
version = 3
root = "$node/containerd/root"
state = "$node/containerd/state"

[grpc]
  address = "$node/containerd.sock"

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "$PAUSE_IMAGE"

[plugins.'io.containerd.cri.v1.runtime']
  # Processes here may not lower oom_score_adj (the kubelet asks -998 for the sandbox).
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = "/usr/sbin/runc"
      SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$node/cni"
EOF
  cat >"$node/cni/10-oqto.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "oqto-pods",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$node/ipam", "ranges": [[{"subnet": "$POD_CIDR"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$node/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# A container with cgroup v1 controllers (environment.md §8).
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
localStorageCapacityIsolation: false
containerRuntimeEndpoint: unix://$node/containerd.sock
address: 127.0.0.1
port: $1
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $2
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
# A test node on a shared disk: no evictions, no image garbage collection.
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
imageGCHighThresholdPercent: 100
serializeImagePulls: false
EOF
  if [ -n "$3" ]; then
    # KEY=VALUE:EFFECT
    local key="${3%%=*}" rest="${3#*=}"
    cat >>"$node/kubelet.yaml" <<EOF
registerWithTaints:
  - {key: "$key", value: "${rest%%:*}", effect: "${rest##*:}"}
EOF
  fi
}

# Static PersistentVolumes of the StorageClass `oqto-node` (hostPath, writable by anyone: the
# runner's uid is not known here), so that claims of that class bind without a provisioner, and
# claims of no class (the tests that play the kubelet) stay Pending as before. Each is used once
# (hostPath volumes cannot be deleted by the controller manager).
volumes() {
  local i
  for i in $(seq 1 "${OQTO_NODE_VOLUMES:-16}"); do
    mkdir -p "$node/volumes/pv$i" && chmod 0777 "$node/volumes/pv$i"
    cat <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: oqto-node-pv$i
  labels: {oqto.dev/node-volume: "true"}
spec:
  capacity: {storage: 100Gi}
  accessModes: [ReadWriteOnce, ReadWriteMany]
  storageClassName: oqto-node
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: "$node/volumes/pv$i", type: Directory}
EOF
  done | kubectl_ apply -f - >/dev/null
}

# Traefik as the node's ingress controller: a host process (it reaches Pods on the bridge, as
# kube-proxy's Services do), watching the apiserver with a ServiceAccount token that may read
# what an ingress controller reads. Its static configuration holds the token, so that no secret
# is on a command line. The entry point keeps WebSockets open (no read timeout).
ingress() {
  local bin port ping server
  bin="$("$here/build-traefik.sh")"
  kubectl_ apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: oqto}
spec: {controller: traefik.io/ingress-controller}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: oqto-ingress, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: oqto-ingress}
rules:
  - apiGroups: [""]
    resources: [services, secrets, nodes]
    verbs: [get, list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [get, list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses, ingressclasses]
    verbs: [get, list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses/status]
    verbs: [update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: oqto-ingress}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: oqto-ingress}
subjects: [{kind: ServiceAccount, name: oqto-ingress, namespace: kube-system}]
EOF
  server="$(kubectl_ config view --raw -o jsonpath='{.clusters[0].cluster.server}')"
  port="$(free_port)"; ping="$(free_port)"
  (umask 077 && cat >"$node/traefik.yaml" <<EOF
entryPoints:
  web:
    address: "127.0.0.1:$port"
    transport:
      respondingTimeouts: {readTimeout: 0s}
  traefik:
    address: "127.0.0.1:$ping"
ping: {}
log: {level: INFO}
# A Pod that just died leaves its address in the routes for a moment: fail fast, so the client
# retries (to a live replica) instead of waiting 30 s for a dead address.
serversTransport:
  forwardingTimeouts: {dialTimeout: 2s}
providers:
  kubernetesIngress:
    endpoint: "$server"
    certAuthFilePath: "$run/pki/ca.crt"
    token: "$(kubectl_ create token oqto-ingress --namespace kube-system --duration 48h)"
    ingressClass: oqto
EOF
  )
  log "starting traefik (ingress class oqto)"
  start traefik "$bin/traefik" --configFile="$node/traefik.yaml"
  wait_for traefik "http://127.0.0.1:$ping/ping" 60
  echo "127.0.0.1:$port" >"$node/ingress-address"
  log "ingress on http://127.0.0.1:$port"
}

# kube-router's NetworkPolicy controller as the node's policy engine (build-kube-router.sh says
# why this one): a host process writing iptables and ipset rules for the node's Pods. Traffic
# between Pods on the bridge passes iptables only with br_netfilter's bridge-nf-call-iptables.
netpol() {
  local bin health
  bin="$("$here/build-kube-router.sh")"
  sysctl -qw net.bridge.bridge-nf-call-iptables=1
  health="$(free_port)"
  log "starting kube-router (NetworkPolicies only)"
  start kube-router "$bin/kube-router" --kubeconfig="$run/kubeconfig" --hostname-override="$NODE_NAME" \
    --run-firewall=true --run-router=false --run-service-proxy=false \
    --health-port="$health" --metrics-port=0
  wait_for kube-router "http://127.0.0.1:$health/healthz" 60
}

# kube-router's rules and sets outlive it, and its --cleanup-config crashes in the service
# proxy's part (v2.1.0): removed here by their names, which only kube-router uses.
netpol_cleanup() {
  local rule chain set
  { iptables -S 2>/dev/null | grep -E '^-A (INPUT|FORWARD|OUTPUT) .*kube-router netpol' || true; } |
    sed 's/^-A/-D/' | while read -r rule; do eval "iptables $rule" 2>/dev/null || true; done
  for chain in $(iptables -S 2>/dev/null | awk '/^-N KUBE-(ROUTER|NWPLCY|POD-FW)-/ {print $2}'); do
    iptables -F "$chain" 2>/dev/null || true
  done
  for chain in $(iptables -S 2>/dev/null | awk '/^-N KUBE-(ROUTER|NWPLCY|POD-FW)-/ {print $2}'); do
    iptables -X "$chain" 2>/dev/null || true
  done
  for set in $(ipset list -n 2>/dev/null | grep -E '^(KUBE-(DST|SRC)-|kube-router-)' || true); do
    ipset destroy "$set" 2>/dev/null || true
  done
}

up() {
  [ "$(id -u)" = 0 ] || die "a node runs containers and mounts volumes: run it as root"
  our_pid kube-apiserver >/dev/null || die "the control plane is not running: hack/k8s/controlplane.sh up"
  if our_pid kubelet >/dev/null; then
    log "already running"
    import "$@"
    return
  fi
  local scheduler=1 taint="" with_ingress=0 with_netpol=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --no-scheduler) scheduler=0; shift ;;
      --ingress) with_ingress=1; shift ;;
      --netpol) with_netpol=1; shift ;;
      --taint)
        [[ "${2:-}" =~ ^[a-z0-9./-]+=[A-Za-z0-9._-]*:(NoSchedule|PreferNoSchedule|NoExecute)$ ]] \
          || die "--taint takes KEY=VALUE:EFFECT (NoSchedule, PreferNoSchedule or NoExecute), not ${2:-nothing}"
        taint="$2"; shift 2 ;;
      *) break ;;
    esac
  done
  down_quiet
  local started; started=$(date +%s)
  install_packages
  local bin ctrbin
  bin="$("$here/build.sh")"
  ctrbin="$("$here/build-containerd.sh")"
  [ "$with_ingress" = 0 ] || "$here/build-traefik.sh" >/dev/null
  [ "$with_netpol" = 0 ] || "$here/build-kube-router.sh" >/dev/null
  mkdir -p "$node"
  echo "$ctrbin" >"$node/containerd-bin"
  sysctl -qw net.ipv4.ip_forward=1
  # The bridge the CNI plugin would make with the first Pod, made now (the plugin adopts it).
  ip link add "$BRIDGE" type bridge 2>/dev/null || true
  ip addr replace "${POD_CIDR%.*}.1/24" dev "$BRIDGE"
  ip addr replace 198.51.100.1/32 dev "$BRIDGE"
  ip link set "$BRIDGE" up
  local kubelet_port healthz_port scheduler_port
  kubelet_port="$(free_port)"; healthz_port="$(free_port)"; scheduler_port="$(free_port)"
  write_configs "$kubelet_port" "$healthz_port" "$taint"

  log "starting containerd"
  PATH="$ctrbin:$PATH" start containerd "$ctrbin/containerd" --config "$node/containerd.toml"
  local deadline=$(( $(date +%s) + 60 ))
  until ctr_ version >/dev/null 2>&1; do
    started_alive containerd || { tail -n 30 "$run/containerd.log" >&2; die "containerd exited during start"; }
    [ "$(date +%s)" -lt "$deadline" ] || die "containerd did not answer on $node/containerd.sock"
    sleep 0.5
  done
  pause_image
  import "$PAUSE_IMAGE" "$@"

  if [ "$scheduler" = 1 ]; then
    log "starting kube-scheduler"
    start kube-scheduler "$bin/kube-scheduler" --kubeconfig="$run/kubeconfig" \
      --authentication-kubeconfig="$run/kubeconfig" --authorization-kubeconfig="$run/kubeconfig" \
      --leader-elect=false --bind-address=127.0.0.1 --secure-port="$scheduler_port"
    wait_for kube-scheduler "https://127.0.0.1:$scheduler_port/healthz" 60 --insecure
  fi

  log "starting the kubelet ($NODE_NAME)"
  start kubelet "$bin/kubelet" --config="$node/kubelet.yaml" --kubeconfig="$run/kubeconfig" \
    --root-dir="$node/kubelet" --cert-dir="$node/kubelet-pki" --hostname-override="$NODE_NAME"
  wait_for kubelet "http://127.0.0.1:$healthz_port/healthz" 120
  deadline=$(( $(date +%s) + 120 ))
  until [ "$(kubectl_ get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; do
    started_alive kubelet || { tail -n 30 "$run/kubelet.log" >&2; die "the kubelet exited during start"; }
    [ "$(date +%s)" -lt "$deadline" ] || { tail -n 30 "$run/kubelet.log" >&2; die "node $NODE_NAME not Ready after 120s"; }
    sleep 1
  done
  local proxy_health proxy_metrics
  proxy_health="$(free_port)"; proxy_metrics="$(free_port)"
  log "starting kube-proxy"
  start kube-proxy "$bin/kube-proxy" --kubeconfig="$run/kubeconfig" --hostname-override="$NODE_NAME" \
    --cluster-cidr=10.244.0.0/16 --proxy-mode=iptables --conntrack-max-per-core=0 \
    --healthz-bind-address="127.0.0.1:$proxy_health" --metrics-bind-address="127.0.0.1:$proxy_metrics"
  echo "$bin" >"$node/kube-proxy-bin"
  wait_for kube-proxy "http://127.0.0.1:$proxy_health/healthz" 60
  volumes
  [ "$with_ingress" = 0 ] || ingress
  [ "$with_netpol" = 0 ] || netpol
  log "node $NODE_NAME ready in $(( $(date +%s) - started ))s (pods on $POD_CIDR)"
}

down_quiet() {
  [ -d "$node" ] || { rm -f "$run"/{kube-router,traefik,kubelet,kube-scheduler,kube-proxy,containerd}.pid; return 0; }
  if our_pid kubelet >/dev/null && our_pid kube-apiserver >/dev/null; then
    # The kubelet tears its Pods down properly (CNI included) when they go.
    kubectl_ delete pods --all -A --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    local deadline=$(( $(date +%s) + 30 ))
    while [ -n "$(ctr_ tasks ls -q 2>/dev/null)" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 1; done
  fi
  stop_ours kube-router traefik kubelet kube-scheduler kube-proxy
  netpol_cleanup
  # kube-proxy's iptables chains outlive it.
  if [ -f "$node/kube-proxy-bin" ]; then
    "$(cat "$node/kube-proxy-bin")/kube-proxy" --cleanup --proxy-mode=iptables >/dev/null 2>&1 || true
  fi
  if our_pid containerd >/dev/null; then
    local task
    for task in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true; done
  fi
  stop_ours containerd
  # Shims (and their containers) outlive containerd; they name our socket.
  pkill -9 -f "containerd-shim-runc-v2.*$node/containerd.sock" 2>/dev/null || true
  grep -F " $node/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$node"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  import)
    shift
    our_pid containerd >/dev/null || die "no node: hack/k8s/node.sh up"
    import "$@"
    ;;
  down) down_quiet ;;
  *) echo "usage: $0 up [--no-scheduler] [--taint K=V:EFFECT] [--ingress] [--netpol] [image…] | import image… | down" >&2; exit 2 ;;
esac
