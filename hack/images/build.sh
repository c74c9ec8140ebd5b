#!/usr/bin/env bash
# Builds the images of the single-node stack with Podman: the gateway, the operator, the LLM
# proxy, the demo provider, the runner and its browser sidecar. The Rust binaries are built once, in release mode, on the host (one
# cargo run for all of them); each image gets a small staging context and is rebuilt only when
# its context or base changed (label dev.oqto.build-key), so a warm run takes seconds.
#
#   hack/images/build.sh      prints the image names on stdout, progress on stderr
#
# BASE_IMAGE picks the base of the service images (default: the offline base of
# `hack/images/base.sh minimal`); the runner's is picked by runner-image/build.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
tag="${OQTO_IMAGE_TAG:-dev}"
started=$(date +%s)
say() { echo "    [images $(( $(date +%s) - started ))s] $*" >&2; }

say "building release binaries (gateway, oqtoctl, operator, llm-proxy, scripted-llm, pi-bridge, hstry)"
cargo build --release --locked --manifest-path "$root/Cargo.toml" \
  -p oqto-gateway -p oqto-operator -p oqto-llm-proxy -p oqto-scripted-llm -p oqto-pi-bridge -p oqto-hstry --bins >&2
base="${BASE_IMAGE:-$("$root/hack/images/base.sh" minimal)}"
base_id="$(podman image inspect --format '{{.Id}}' "$base" 2>/dev/null || echo "$base")"

# build NAME CONTAINERFILE FILE... : stages the files under bin/ (ui/ for a directory) and builds
# The builds a new one replaced (untagged, and ours by their label): left alone they filled a
# developer's disk at tens of GiB. Images a container still uses stay.
prune_replaced() {
  podman image prune --force --filter label=dev.oqto.build-key >/dev/null 2>&1 || true
}

# localhost/NAME:TAG unless an image of the same key exists.
build() {
  local name="$1" containerfile="$2"; shift 2
  local image="localhost/$name:$tag" context
  context="$(mktemp -d)"
  mkdir -p "$context/bin"
  cp "$containerfile" "$context/Containerfile"
  for file in "$@"; do
    case "$file" in
      ui=*) cp -a "${file#ui=}" "$context/ui" ;;
      *) cp "$file" "$context/bin/" ;;
    esac
  done
  local key
  key="$(cd "$context" && { echo "$base_id"; find . -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16)"
  if [ "$(podman image inspect --format '{{index .Labels "dev.oqto.build-key"}}' "$image" 2>/dev/null || true)" = "$key" ]; then
    say "$image is up to date"
  else
    say "building $image from $base"
    podman build --quiet --build-arg "BASE_IMAGE=$base" --label "dev.oqto.build-key=$key" \
      --tag "$image" --file "$context/Containerfile" "$context" >/dev/null
    say "built $image"
    prune_replaced
  fi
  rm -rf "$context"
  echo "$image"
}

ui="$root/frontend/dist"
[ -f "$ui/index.html" ] || ui="$root/gateway/ui-placeholder"
build oqto-gateway "$root/gateway/Containerfile" "$target/release/oqto-gateway" "$target/release/oqtoctl" "ui=$ui"
build oqto-operator "$root/operator/Containerfile" "$target/release/oqto-operator"
build oqto-llm-proxy "$root/llm-proxy/Containerfile" "$target/release/oqto-llm-proxy"
build oqto-demo-llm "$root/e2e/scripted-llm/Containerfile" "$target/release/scripted-llm"
say "building the runner image"
OQTO_BINARIES_BUILT=1 OQTO_QUIET_BUILD=1 OQTO_RUNNER_IMAGE="localhost/oqto-runner:$tag" "$root/runner-image/build.sh" | tail -n 1
say "building the browser image (the runner's optional sidecar)"
OQTO_QUIET_BUILD=1 OQTO_BROWSER_IMAGE="localhost/oqto-browser:$tag" "$root/runner-image/browser/build.sh" | tail -n 1
say "images ready"
