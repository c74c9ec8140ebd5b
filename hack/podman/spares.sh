#!/usr/bin/env bash
# The single-node stack's Running warm spare Sessions (OQTO_WARM_SPARES=true at hack/up.sh),
# one name per line, read from its store volume: for the browser test, which checks that a
# new session from the UI claims one.
#
#   OQTO_PROJECT=oqto-test hack/podman/spares.sh
set -euo pipefail
state="$(podman volume inspect --format '{{.Mountpoint}}' "${OQTO_PROJECT:-oqto}_state")"
python3 - "$state" <<'PY'
import glob, json, sys
for path in sorted(glob.glob(f"{sys.argv[1]}/Session/*/*.json")):
    try:
        with open(path) as f:
            session = json.load(f)
    except (OSError, ValueError):
        continue  # written meanwhile: the next call reads it
    labels = session.get("metadata", {}).get("labels") or {}
    phase = (session.get("status") or {}).get("phase")
    if labels.get("oqto.dev/spare") == "true" and phase == "Running":
        print(session["metadata"]["name"])
PY
