#!/usr/bin/env bash
# Installs the system packages the build and the tests need when they are missing, and checks
# the toolchains that cannot be installed from here (Rust and Go come with the machine).
set -euo pipefail

missing=()
# chromium: the browser tests drive Debian's Chromium (playwright-core cannot download one here).
for pair in curl:curl openssl:openssl python3:python3 cc:gcc git:git npm:npm chromium:chromium; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
# postgresql: the gateway's shared accounts store is tested against Debian's server.
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

fail=0
for tool in cargo rustfmt cargo-clippy go; do
  command -v "$tool" >/dev/null || { echo "missing $tool: install the Rust toolchain (rustup, with rustfmt and clippy) and Go >= 1.26" >&2; fail=1; }
done
[ "$fail" = 0 ]
