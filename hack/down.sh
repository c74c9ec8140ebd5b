#!/usr/bin/env bash
# Stops what hack/up.sh started: the stack's containers, the runner containers of its sessions
# and the Podman API service it started. Every volume is kept (users, workspaces, files, chats,
# LLM usage);
# `hack/down.sh --purge` removes them too. A developer's Kubernetes control plane
# (hack/k8s/controlplane.sh) is not touched.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export OQTO_HOME="${OQTO_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/oqto}" OQTO_PROJECT="${OQTO_PROJECT:-oqto}"
command -v podman >/dev/null || { echo "podman is not installed: nothing runs" >&2; exit 0; }

compose=("$(hack/podman/compose.sh)" -p "$OQTO_PROJECT" -f "$repo/compose.yaml")
"${compose[@]}" down >/dev/null 2>&1 || true
# The runners the stack's operator made: those labelled with its store's id. They come back
# with the next hack/up.sh: their Sessions are unchanged.
state="$(podman volume inspect --format '{{.Mountpoint}}' "${OQTO_PROJECT}_state" 2>/dev/null || true)"
store="$(cat "$state/store-id" 2>/dev/null || true)"
if [ -n "$store" ]; then
  # Browser sidecars first: Podman keeps a runner whose network namespace one still uses.
  sidecars="$(podman ps -aq --filter label=oqto.dev/store="$store" --filter label=oqto.dev/sidecar-of)"
  [ -z "$sidecars" ] || podman rm -f -t 5 $sidecars >/dev/null
  runners="$(podman ps -aq --filter label=oqto.dev/store="$store")"
  [ -z "$runners" ] || podman rm -f -t 5 $runners >/dev/null
fi
if [ "${1:-}" = --purge ] && [ -n "$store" ]; then
  podman volume ls -q --filter label=oqto.dev/store="$store" | xargs -r podman volume rm -f >/dev/null
fi
if [ "${1:-}" = --purge ]; then
  podman volume rm -f "${OQTO_PROJECT}_state" "${OQTO_PROJECT}_gateway-data" "${OQTO_PROJECT}_llm-usage" \
    >/dev/null 2>&1 || true
  rm -rf "$OQTO_HOME"
  echo "removed the stack's volumes and $OQTO_HOME" >&2
fi
hack/podman/service.sh down
echo "Oqto is stopped." >&2
