#!/usr/bin/env bash
# The project's one test command (README; CI runs it through .ci/run). On a fresh machine it
# installs what is missing, builds the control plane from the Go module proxy (cached outside the
# checkout), then runs formatting, lints and every test, integration tests against a real
# kube-apiserver included. The control plane it starts is stopped on exit.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
started=$(date +%s)
step() { echo "==> [$(( $(date +%s) - started ))s] $*"; }

step "checking tools"
"$repo/hack/ensure-tools.sh"

step "building the control plane (cached after the first run)"
hack/k8s/build.sh >/dev/null

step "installing the pinned Pi from npm (cached after the first run)"
OQTO_PI="$(hack/pi/install.sh | tail -n 1)"
OQTO_PI_LEGACY="$(hack/pi/install.sh legacy | tail -n 1)"
export OQTO_PI OQTO_PI_LEGACY

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "building tests"
cargo test --workspace --locked --no-run

step "starting the single-node stack with the README's run command (hack/up.sh; builds the images)"
# The stack's own home and port, so a developer's stack is neither reused nor stopped.
export OQTO_PROJECT=oqto-test OQTO_HOME="$repo/target/stack-test" OQTO_PORT="${OQTO_TEST_PORT:-18080}" OQTO_DEMO_LLM_PORT=18090
trap 'hack/down.sh --purge || true; hack/k8s/controlplane.sh down' EXIT
hack/down.sh --purge >/dev/null 2>&1 || true
hack/up.sh
export OQTO_RUNNER_IMAGE=localhost/oqto-runner:dev

step "starting the control plane"
# Our own directory, so a developer's running control plane is neither reused nor stopped.
export OQTO_CONTROLPLANE_DIR="$repo/target/controlplane-test"
OQTO_TEST_KUBECONFIG="$(hack/k8s/controlplane.sh up)"
export OQTO_TEST_KUBECONFIG

step "cargo test (integration tests print what the apiserver answered)"
cargo test --workspace --locked -- --show-output

step "all checks passed"
