#!/usr/bin/env bash
# Builds the agent's browser image (the runner's optional sidecar) with Podman.
#
#   runner-image/browser/build.sh    -> localhost/oqto-browser:dev (name printed on stdout)
#
# BASE_IMAGE picks the base; without it the offline base of `hack/images/base.sh browser` is used
# (Chromium comes from Debian's packages, no registry needed). OQTO_BROWSER_IMAGE sets the tag.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tag="${OQTO_BROWSER_IMAGE:-localhost/oqto-browser:dev}"
base="${BASE_IMAGE:-$("$root/hack/images/base.sh" browser)}"

# The image's inputs: the base (by id) and the Containerfile. An image with the same key is not
# rebuilt.
base_id="$(podman image inspect --format '{{.Id}}' "$base" 2>/dev/null || echo "$base")"
key="$({ echo "$base_id"; sha256sum "$here/Containerfile" | cut -d' ' -f1; } | sha256sum | cut -c1-16)"
if [ "$(podman image inspect --format '{{index .Labels "dev.oqto.build-key"}}' "$tag" 2>/dev/null || true)" = "$key" ]; then
  echo "$tag is up to date" >&2
  echo "$tag"
  exit 0
fi

# A context of the Containerfile alone: nothing else is copied in.
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$here/Containerfile" "$context/"
echo "building $tag from $base" >&2
start=$(date +%s)
podman build ${OQTO_QUIET_BUILD:+--quiet} --build-arg "BASE_IMAGE=$base" --label "dev.oqto.build-key=$key" --tag "$tag" --file "$context/Containerfile" "$context" >&2
# The build it replaced (untagged, ours by the label) goes: such leftovers filled disks.
podman image prune --force --filter label=dev.oqto.build-key >/dev/null 2>&1 || true
echo "built $tag in $(( $(date +%s) - start ))s" >&2
echo "$tag"
