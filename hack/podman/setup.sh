#!/usr/bin/env bash
# Makes Podman usable on this host (environment.md §1): installs it when missing and, on hosts
# where containers cannot start as configured (cgroup v1 or hybrid mounts, or a hard open-files
# limit below crun's default), adds a drop-in that selects runc and explicit ulimits. On a normal
# cgroup-v2 host nothing is written but the `containers` entries of /etc/subuid and /etc/subgid
# (runner user namespaces), when missing.
set -euo pipefail
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
dropin=/etc/containers/containers.conf.d/50-oqto.conf

if ! command -v podman >/dev/null || ! command -v mmdebstrap >/dev/null; then
  echo "installing podman and mmdebstrap" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    podman crun runc fuse-overlayfs slirp4netns uidmap mmdebstrap >&2
fi

cgroupfs="$(stat -fc %T /sys/fs/cgroup)"
hard_nofile="$(ulimit -Hn)"
if [ "$cgroupfs" != cgroup2fs ] || { [ "$hard_nofile" != unlimited ] && [ "$hard_nofile" -lt 1048576 ]; }; then
  nofile="$hard_nofile"; [ "$nofile" = unlimited ] && nofile=1048576
  want="$(printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n' "$nofile" "$nofile")"
  if [ "$(cat "$dropin" 2>/dev/null || true)" != "$want" ]; then
    echo "podman: cgroup fs is $cgroupfs, hard nofile $hard_nofile: writing $dropin (runc, explicit ulimits)" >&2
    $sudo mkdir -p "$(dirname "$dropin")"
    printf '%s\n' "$want" | $sudo tee "$dropin" >/dev/null
  fi
fi
# Runner user namespaces (the operator's --runner-user-namespaces): each Workspace's runners map
# container uids 0..65536 to a range of their own from 2^31 up, in the upper half of the id space
# that Podman's `containers` user is given here (Podman's `--userns=auto` reads it).
for ids in /etc/subuid /etc/subgid; do
  if ! grep -q '^containers:' "$ids" 2>/dev/null; then
    echo "podman: giving runner user namespaces host ids 2147483647-4294967294 ($ids)" >&2
    echo 'containers:2147483647:2147483648' | $sudo tee -a "$ids" >/dev/null
  fi
done
podman info --format 'podman {{.Version.Version}}: runtime {{.Host.OCIRuntime.Name}}, cgroups {{.Host.CgroupsVersion}}' >&2
