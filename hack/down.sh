#!/usr/bin/env bash
# Stops what hack/up.sh started, and only that.
set -euo pipefail
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/k8s/controlplane.sh" down
