#!/usr/bin/env bash
# Every benchmark of the project in one run, and one table: each figure next to its reference
# measured in the same run (a bare `podman run` plus Pi's start, nginx as a plain WebSocket
# proxy, plain rusqlite, a direct connection, the quiet control plane) and their ratio.
#
#   hack/bench.sh                  the full run: the counts the issues name (1000 Sessions, 100k
#                                  messages, 5000 sockets, ...)
#   hack/bench.sh --quick          smaller counts: under 10 minutes on 2 cores once built
#   hack/bench.sh --only NAME...   only these benches (their names as in the table)
#   hack/bench.sh --compare A.json B.json   the change per figure from run A to run B
#   hack/bench.sh --list           every bench: its name, package and bench target
#
# Like the test command, it installs and builds what it needs first (cached afterwards: the
# control plane from the Go module proxy, Pi from npm, the images, nginx from Debian), starts
# what a bench needs (the single-node stack, the control plane and its node) under names and
# ports of its own, and stops them on exit. The run is written to target/bench/DATE-COMMIT.json
# with its plots in the directory beside it; BENCHMARKS.md says how to read them.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
target="${CARGO_TARGET_DIR:-$repo/target}"
export CARGO_INCREMENTAL=0

# Every bench, in the order they run: self-contained ones first, then those needing the stack,
# then the control plane. `bench_needs` says what each one needs started.
benches=(hstry_store hstry_search bridge_latency proxy_overhead relay flood podman_start
  stack_session_start operator_scale runner_start)
bench_package() {
  case "$1" in
    hstry_store | hstry_search) echo oqto-hstry ;;
    bridge_latency) echo oqto-pi-bridge ;;
    proxy_overhead) echo oqto-llm-proxy ;;
    relay | flood) echo oqto-gateway ;;
    *) echo oqto-e2e ;;
  esac
}
bench_target() {
  case "$1" in
    hstry_store) echo store ;;
    hstry_search) echo search ;;
    *) echo "$1" ;;
  esac
}
bench_needs() {
  case "$1" in
    stack_session_start) echo stack ;;
    operator_scale) echo controlplane ;;
    runner_start) echo node ;;
    *) echo nothing ;;
  esac
}

quick=""
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --only)
      shift
      while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do only+=("$1"); shift; done
      continue
      ;;
    --compare)
      [ $# -eq 3 ] || { echo "usage: $0 --compare A.json B.json" >&2; exit 2; }
      cargo run -q --release --locked -p oqto-bench -- compare "$2" "$3"
      exit
      ;;
    --list)
      # NAME PACKAGE BENCH per line (the drift test of e2e/bench reads it).
      for b in "${benches[@]}"; do echo "$b $(bench_package "$b") $(bench_target "$b")"; done
      exit
      ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit ;;
    *) echo "unknown argument: $1 (see $0 --help)" >&2; exit 2 ;;
  esac
  shift
done
for name in "${only[@]}"; do
  [[ " ${benches[*]} " == *" $name "* ]] || { echo "no bench named $name; the benches: ${benches[*]}" >&2; exit 2; }
done
[ "${#only[@]}" -gt 0 ] && benches=("${only[@]}")

started=$(date +%s)
step() { echo "==> [$(( $(date +%s) - started ))s] $*" >&2; }
needs() { for b in "${benches[@]}"; do [ "$(bench_needs "$b")" = "$1" ] && return 0; done; return 1; }

step "checking tools (and nginx, the relay's reference)"
hack/ensure-tools.sh
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx-light >&2
fi

step "installing the pinned Pi from npm (cached after the first run)"
OQTO_PI="$(hack/pi/install.sh | tail -n 1)"
export OQTO_PI

if needs controlplane || needs node; then
  step "building the control plane and its node (cached after the first run)"
  hack/k8s/build.sh >/dev/null
  hack/k8s/build-containerd.sh >/dev/null
  hack/k8s/build-kube-router.sh >/dev/null
fi

step "building the images and the release binaries (cached after the first run)"
hack/images/build.sh >/dev/null
cargo build --release --locked --workspace --bins
# operator_scale runs the operator built on its own (`-p oqto-operator`: other features than the
# workspace's build), so that build is cached here rather than timed there.
needs controlplane && cargo build --release --locked -p oqto-operator
step "building the benches"
for b in "${benches[@]}"; do
  cargo bench --locked -p "$(bench_package "$b")" --bench "$(bench_target "$b")" --no-run 2>&1 | grep -v '^ *Executable' >&2 || true
done

# Our own names, ports and directories: a developer's stack or control plane is neither reused
# nor stopped.
export OQTO_RUNNER_IMAGE=localhost/oqto-runner:dev
export OQTO_CONTROLPLANE_DIR="$repo/target/controlplane-bench"
stack_env=(OQTO_PROJECT=oqto-bench OQTO_HOME="$repo/target/stack-bench" OQTO_PORT=28080
  OQTO_DEMO_LLM_PORT=28090 OQTO_LLM_PROXY_PORT=28092 OQTO_LLM_PROXY_METRICS_PORT=29092
  OQTO_OPERATOR_PORT=28081 OQTO_GATEWAY_RUNNER_PORT=28083)
stack_down() { env "${stack_env[@]}" hack/down.sh --purge >/dev/null 2>&1 || true; }
trap 'stack_down; hack/k8s/controlplane.sh down >/dev/null 2>&1 || true' EXIT

commit="$(git rev-parse --short=12 HEAD)$(git diff --quiet HEAD -- . ':!target' || echo -dirty)"
date="$(date -u +%FT%TZ)"
mkdir -p "$target/bench"
run="$target/bench/${date//:/}-$commit${quick:+-quick}"
records="$run.records.jsonl"
: >"$records"
export OQTO_BENCH_RECORD="$records"
[ -n "$quick" ] && export OQTO_BENCH_QUICK=1
failed=()
measured=$(date +%s)

plane_up=""
for b in "${benches[@]}"; do
  case "$(bench_needs "$b")" in
    stack)
      step "starting the single-node stack (hack/up.sh, project oqto-bench)"
      stack_down
      env "${stack_env[@]}" hack/up.sh >&2
      ;;
    controlplane | node)
      if [ -z "$plane_up" ]; then
        step "starting the control plane"
        hack/k8s/controlplane.sh up >/dev/null
        plane_up=1
      fi
      if [ "$(bench_needs "$b")" = node ] && [ "$plane_up" != node ]; then
        step "starting its node (containerd, a kubelet, kube-router's NetworkPolicies; the runner image imported)"
        hack/k8s/node.sh up --netpol --taint oqto.dev/test-node=tolerated-only:NoSchedule "$OQTO_RUNNER_IMAGE" >&2
        plane_up=node
      fi
      ;;
  esac
  step "bench $b${quick:+ (quick)}"
  bench_env=()
  [ "$(bench_needs "$b")" = stack ] && bench_env=("${stack_env[@]}")
  if ! env "${bench_env[@]}" cargo bench --locked -q -p "$(bench_package "$b")" --bench "$(bench_target "$b")" >&2; then
    failed+=(--failed "$b: exited with an error (its output above)")
  fi
  [ "$(bench_needs "$b")" = stack ] && stack_down
done
step "measured in $(( $(date +%s) - measured ))s"

cargo run -q --release --locked -p oqto-bench -- collect --records "$records" --out "$run.json" \
  --commit "$commit" --date "$date" ${quick:+--quick} "${failed[@]}"
[ "${#failed[@]}" -eq 0 ]
