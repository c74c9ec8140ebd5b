#!/usr/bin/env bash
# Builds the runner image with Podman from a small staging context: release binaries of
# pi-bridge and hstry, the pinned Pi of hack/pi (installed on the host by hack/pi/install.sh with
# `npm ci` from its lock file, so the build itself needs no registry and no host CA inside the
# container), and the entrypoint scripts.
#
#   runner-image/build.sh            -> localhost/oqto-runner:dev (name printed on stdout)
#
# BASE_IMAGE picks the base; without it the offline base of hack/images/base.sh is used, so the
# build works on hosts that cannot reach a container registry. OQTO_RUNNER_IMAGE sets the tag.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tag="${OQTO_RUNNER_IMAGE:-localhost/oqto-runner:dev}"
base="${BASE_IMAGE:-$("$root/hack/images/base.sh" runner)}"

# hack/images/build.sh has built them already, with the feature set of all the images: building
# these two alone would unify features differently and recompile much of the tree.
if [ -z "${OQTO_BINARIES_BUILT:-}" ]; then
  echo "building release binaries (pi-bridge, hstry)" >&2
  cargo build --release --locked --manifest-path "$root/Cargo.toml" -p oqto-pi-bridge -p oqto-hstry --bins >&2
fi
target="${CARGO_TARGET_DIR:-$root/target}"

pi_home="$(dirname "$(dirname "$("$root/hack/pi/install.sh" | tail -n 1)")")"
# The image's inputs, cheaply: Pi's tree is fixed by its lock file (npm ci), the rest is hashed.
# An image with the same key is not rebuilt (staging and hashing Pi's tree takes ~20 s).
base_id="$(podman image inspect --format '{{.Id}}' "$base" 2>/dev/null || echo "$base")"
key="$({ echo "$base_id"; sha256sum "$target/release/pi-bridge" "$target/release/hstry" \
  "$pi_home/package-lock.json" "$root/runner-image/Containerfile" "$root/runner-image/oqto-runner" \
  "$root/runner-image/pi-launcher" "$root"/runner-image/pi-extensions/* | cut -d' ' -f1; } | sha256sum | cut -c1-16)"
if [ "$(podman image inspect --format '{{index .Labels "dev.oqto.build-key"}}' "$tag" 2>/dev/null || true)" = "$key" ]; then
  echo "$tag is up to date" >&2
  echo "$tag"
  exit 0
fi

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/bin" "$context/pi"
cp "$target/release/pi-bridge" "$target/release/hstry" "$context/bin/"
cp -a "$pi_home/node_modules" "$pi_home/package.json" "$pi_home/package-lock.json" "$context/pi/"
cp "$root/runner-image/Containerfile" "$root/runner-image/oqto-runner" "$root/runner-image/pi-launcher" "$context/"
cp -r "$root/runner-image/pi-extensions" "$context/"

echo "building $tag from $base" >&2
start=$(date +%s)
podman build ${OQTO_QUIET_BUILD:+--quiet} --build-arg "BASE_IMAGE=$base" --label "dev.oqto.build-key=$key" --tag "$tag" --file "$context/Containerfile" "$context" >&2
# The build it replaced (untagged, ours by the label) goes: such leftovers filled disks.
podman image prune --force --filter label=dev.oqto.build-key >/dev/null 2>&1 || true
echo "built $tag in $(( $(date +%s) - start ))s" >&2
echo "$tag"
