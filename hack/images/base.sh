#!/usr/bin/env bash
# Builds Oqto's offline base images from Debian packages, for hosts that cannot pull from a
# container registry (environment.md §2): mmdebstrap makes a minimal Debian root file system and
# `podman import` turns it into an image. A normal build can use a public base image instead
# (the Containerfiles take `ARG BASE_IMAGE`).
#
#   hack/images/base.sh runner    localhost/oqto-base-runner:<suite>  (git, bash, ripgrep; Pi and its Node come from hack/pi)
#   hack/images/base.sh minimal   localhost/oqto-base-minimal:<suite> (ca-certificates, tini)
#
# Prints the image name on stdout. An image whose package list is unchanged is reused.
set -euo pipefail
flavour="${1:-runner}"
suite="${OQTO_BASE_SUITE:-trixie}"
common="ca-certificates,tini,tzdata"
case "$flavour" in
  runner) packages="$common,bash,git,ripgrep,procps,less,curl,openssh-client" ;;
  minimal) packages="$common" ;;
  *) echo "usage: $0 runner|minimal" >&2; exit 2 ;;
esac
image="localhost/oqto-base-$flavour:$suite"
key="$(printf '%s %s' "$suite" "$packages" | sha256sum | cut -c1-16)"

if [ "$(podman image inspect --format '{{index .Labels "dev.oqto.base-key"}}' "$image" 2>/dev/null || true)" = "$key" ]; then
  echo "base image $image is up to date" >&2
  echo "$image"
  exit 0
fi

command -v mmdebstrap >/dev/null || { echo "mmdebstrap is required: apt-get install -y mmdebstrap" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "building $image from Debian $suite (packages: $packages)" >&2
start=$(date +%s)
mmdebstrap --variant=minbase --include="$packages" \
  --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
  "$suite" "$work/rootfs.tar" >&2
podman import --change "LABEL dev.oqto.base-key=$key" --change 'CMD ["/bin/bash"]' \
  "$work/rootfs.tar" "$image" >&2
echo "built $image in $(( $(date +%s) - start ))s" >&2
echo "$image"
