#!/usr/bin/env bash
# Builds Oqto's offline base images from Debian packages, for hosts that cannot pull from a
# container registry (environment.md §2): mmdebstrap makes a minimal Debian root file system and
# `podman import` turns it into an image. A normal build can use a public base image instead
# (the Containerfiles take `ARG BASE_IMAGE`).
#
#   hack/images/base.sh runner    localhost/oqto-base-runner:<suite>  (git, bash, ripgrep; Pi and its Node come from hack/pi)
#   hack/images/base.sh minimal   localhost/oqto-base-minimal:<suite> (ca-certificates, tini)
#   hack/images/base.sh browser   localhost/oqto-base-browser:<suite> (chromium-headless-shell, one font)
#
# Prints the image name on stdout. An image whose packages, mirrors and hooks are unchanged is reused.
set -euo pipefail
flavour="${1:-runner}"
suite="${OQTO_BASE_SUITE:-trixie}"
common="ca-certificates,tini,tzdata"
# Empty: mmdebstrap's default mirrors. A flavour that needs particular ones lists them (apt lines),
# and they join the key, so a changed mirror list rebuilds the image.
mirrors=()
# A term that makes a flavour's image expire (see browser); empty for the others.
refresh=""
# Extra mmdebstrap customize hooks (shell run with the root file system in "$1"); they join the key.
hooks=()
case "$flavour" in
  runner) packages="$common,bash,git,ripgrep,procps,less,curl,openssh-client" ;;
  minimal) packages="$common" ;;
  # The agent's browser (runner-image/browser). Debian ships Chromium's fixes through the security
  # suite only (trixie has 156.0.8078.79, trixie-security 156.0.8078.114 on 2026-12-02), so that
  # mirror is named explicitly rather than left to mmdebstrap's guess of which suites are stable.
  browser)
    packages="$common,chromium-headless-shell,fonts-dejavu-core"
    mirrors=("deb http://deb.debian.org/debian $suite main"
      "deb http://deb.debian.org/debian $suite-updates main"
      "deb http://deb.debian.org/debian-security $suite-security main")
    # libgbm1 pulls Mesa's drivers and LLVM (~190 MB) that a --disable-gpu headless shell never
    # loads (checked: it renders pages and screenshots without them). The image has no use for
    # apt afterwards, so the broken dependency is harmless there. Docs and translations go too.
    hooks=('chroot "$1" dpkg --purge --force-depends mesa-libgallium libllvm19 libz3-4'
      'rm -rf "$1"/usr/share/doc/* "$1"/usr/share/locale/* "$1"/usr/share/man/*')
    # A browser that opens untrusted pages without its own sandbox must not stay on the Chromium
    # of the day it was first built: the ISO week joins the key, so the image is made again from
    # the security suite at least weekly (~40 s). OQTO_BASE_REFRESH overrides the term.
    refresh="${OQTO_BASE_REFRESH:-$(date -u +%G-W%V)}" ;;
  *) echo "usage: $0 runner|minimal|browser" >&2; exit 2 ;;
esac
image="localhost/oqto-base-$flavour:$suite"
# Without mirrors the key is the one of earlier versions of this script: existing bases stay valid.
key="$(printf '%s %s%s%s%s' "$suite" "$packages" "${mirrors[*]:+ ${mirrors[*]}}" "${hooks[*]:+ ${hooks[*]}}" \
  "${refresh:+ $refresh}" | sha256sum | cut -c1-16)"

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
hook_args=()
for hook in ${hooks[@]+"${hooks[@]}"}; do hook_args+=(--customize-hook="$hook"); done
mmdebstrap --variant=minbase --include="$packages" ${hook_args[@]+"${hook_args[@]}"} \
  --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
  "$suite" "$work/rootfs.tar" ${mirrors[@]+"${mirrors[@]}"} >&2
podman import --change "LABEL dev.oqto.base-key=$key" --change 'CMD ["/bin/bash"]' \
  "$work/rootfs.tar" "$image" >&2
echo "built $image in $(( $(date +%s) - start ))s" >&2
echo "$image"
