#!/usr/bin/env bash
# The project's one test command (README; CI runs it through .ci/run). On a fresh machine it
# installs what is missing, builds the control plane from the Go module proxy (cached outside the
# checkout), then runs formatting, lints and every test, integration tests against a real
# kube-apiserver included. The control plane it starts is stopped on exit.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
started=$(date +%s)
# One build per run: incremental caches only cost disk (tens of GiB across runs) here.
export CARGO_INCREMENTAL=0
# Each step names the disk left where the build goes: a CI machine once ran out linking.
free_disk() { df -h --output=avail "${CARGO_TARGET_DIR:-$repo/target}" 2>/dev/null | tail -n 1 | tr -d ' ' || echo '?'; }
step() { echo "==> [$(( $(date +%s) - started ))s, $(free_disk) free] $*"; }
mkdir -p "${CARGO_TARGET_DIR:-$repo/target}"
# A warm run needs about 8 GB (README); less is worth saying before the build fails on it.
free_kb="$(df -k --output=avail "${CARGO_TARGET_DIR:-$repo/target}" 2>/dev/null | tail -n 1 | tr -d ' ' || true)"
if [ -n "$free_kb" ] && [ "$free_kb" -lt $((12 * 1024 * 1024)) ] 2>/dev/null; then
  echo "warning: only $(free_disk) free where the build goes; a run needs about 8 GB, more on a new machine (README)" >&2
fi

step "checking tools"
"$repo/hack/ensure-tools.sh"

# Go's build cache only serves these cached builds: on a new machine it is several GiB, so it
# lives in a scratch directory removed once they are done (a warm run builds nothing).
go_scratch="$(mktemp -d "${TMPDIR:-/tmp}/oqto-gocache.XXXXXX")"
trap 'rm -rf "$go_scratch"' EXIT
step "building the control plane, its node, its ingress controller and policy engine (cached after the first run)"
GOCACHE="$go_scratch" hack/k8s/build.sh >/dev/null
GOCACHE="$go_scratch" hack/k8s/build-containerd.sh >/dev/null
GOCACHE="$go_scratch" hack/k8s/build-traefik.sh >/dev/null
GOCACHE="$go_scratch" hack/k8s/build-kube-router.sh >/dev/null

step "building helm from the Go module proxy (cached after the first run)"
OQTO_HELM="$(GOCACHE="$go_scratch" hack/helm/build.sh)"
export OQTO_HELM
rm -rf "$go_scratch"

step "installing the pinned Pi from npm (cached after the first run)"
OQTO_PI="$(hack/pi/install.sh | tail -n 1)"
OQTO_PI_LEGACY="$(hack/pi/install.sh legacy | tail -n 1)"
export OQTO_PI OQTO_PI_LEGACY

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "dependency audit: cargo-deny (licenses, bans, sources; advisories when the RustSec database can be had), npm audit"
hack/audit.sh

step "building tests"
cargo test --workspace --locked --no-run

step "frontend: npm packages, unit tests (Vitest); hack/up.sh below type-checks and bundles it"
hack/frontend/build.sh install
(cd frontend && npx vitest run)

step "starting the single-node stack with the README's run command (hack/up.sh; builds the images)"
# The stack's own home and port, so a developer's stack is neither reused nor stopped.
export OQTO_PROJECT=oqto-test OQTO_HOME="$repo/target/stack-test" OQTO_PORT="${OQTO_TEST_PORT:-18080}" OQTO_DEMO_LLM_PORT=18090 \
  OQTO_LLM_PROXY_PORT=18092 OQTO_LLM_PROXY_METRICS_PORT=19092 OQTO_GATEWAY_RUNNER_PORT=18083
trap 'hack/down.sh --purge || true; hack/k8s/controlplane.sh down; hack/postgres/server.sh down' EXIT
hack/down.sh --purge >/dev/null 2>&1 || true
# Warm spares on in both stacks the browser test runs against: its new session claims one.
OQTO_WARM_SPARES=true hack/up.sh
export OQTO_RUNNER_IMAGE=localhost/oqto-runner:dev

step "browser tests: the web UI in Debian's Chromium against the stack (screenshots in target/browser-screenshots)"
OQTO_UI_URL="http://127.0.0.1:$OQTO_PORT" OQTO_UI_PASSWORD="$(cat "$OQTO_HOME/admin-password")" \
  OQTO_GATEWAY_CONTAINER="$OQTO_PROJECT-gateway" OQTO_SCREENSHOTS="$repo/target/browser-screenshots" \
  OQTO_SPARES_CMD="hack/podman/spares.sh" \
  node --test --test-reporter=spec frontend/e2e/ui.browser.test.mjs

step "starting the control plane"
# Our own directory, so a developer's running control plane is neither reused nor stopped.
export OQTO_CONTROLPLANE_DIR="$repo/target/controlplane-test"
OQTO_TEST_KUBECONFIG="$(hack/k8s/controlplane.sh up)"
export OQTO_TEST_KUBECONFIG

step "starting a node beside it (containerd, runc, a kubelet, the scheduler, kube-proxy, Traefik, kube-router's NetworkPolicies; the images imported)"
# Tainted: only the Pods of tests that tolerate the taint run there; the tests that play the
# kubelet keep their Pods to themselves (oqto_e2e::NODE_TAINT).
hack/k8s/node.sh up --ingress --netpol --taint oqto.dev/test-node=tolerated-only:NoSchedule \
  "$OQTO_RUNNER_IMAGE" localhost/oqto-browser:dev localhost/oqto-gateway:dev localhost/oqto-operator:dev localhost/oqto-llm-proxy:dev

step "starting a PostgreSQL server (Debian's) for the gateway's shared accounts store"
# Also on the node's bridge: the chart's gateway Pods keep their accounts there.
export OQTO_POSTGRES_DIR="$repo/target/postgres-test"
OQTO_TEST_POSTGRES_URL="$(hack/postgres/server.sh up --listen 127.0.0.1,10.244.0.1)"
export OQTO_TEST_POSTGRES_URL

step "cargo test (integration tests print what the apiserver answered)"
cargo test --workspace --locked -- --show-output

step "browser tests again, against the chart on the node through its ingress (two gateways on PostgreSQL; screenshots in target/browser-screenshots-cluster)"
cluster_ui="$(OQTO_WARM_SPARES=true hack/k8s/release.sh up --llm-port "$OQTO_DEMO_LLM_PORT")"
OQTO_UI_URL="$cluster_ui" OQTO_UI_PASSWORD="$(cat "$OQTO_CONTROLPLANE_DIR/release/admin-password")" \
  OQTO_GATEWAY_STOP_CMD="hack/k8s/release.sh scale-gateways 0" \
  OQTO_GATEWAY_START_CMD="hack/k8s/release.sh scale-gateways 2" \
  OQTO_GATEWAY_KILL_CMD="hack/k8s/release.sh kill-carrier" OQTO_SPARES_CMD="hack/k8s/release.sh spares" \
  OQTO_SCREENSHOTS="$repo/target/browser-screenshots-cluster" \
  node --test --test-reporter=spec frontend/e2e/ui.browser.test.mjs
hack/k8s/release.sh down

step "all checks passed"
