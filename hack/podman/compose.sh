#!/usr/bin/env bash
# Prints the path of the pinned podman-compose, installing it from PyPI into a virtualenv under
# ~/.cache/oqto the first time. Debian's podman-compose (1.0.3) cannot run compose.yaml: it adds
# a network to `network_mode: host` containers, which Podman refuses.
set -euo pipefail
version=1.5.0
dir="${OQTO_CACHE_DIR:-$HOME/.cache/oqto}/podman-compose-$version"
if [ ! -x "$dir/bin/podman-compose" ]; then
  echo "installing podman-compose $version from PyPI into $dir" >&2
  rm -rf "$dir"
  python3 -m venv "$dir" >&2
  "$dir/bin/pip" install --quiet --disable-pip-version-check "podman-compose==$version" >&2
fi
echo "$dir/bin/podman-compose"
