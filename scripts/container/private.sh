#!/usr/bin/env bash
# Run one command (podman, buildah, or a script calling them) with this checkout's PRIVATE container
# set-up (scripts/container/env.sh) inside a private mount namespace, in which the system's container
# paths are covered by this checkout's own directories:
#   /var/lib/containers   -> .cache/podman/system-var-lib-containers   (buildah 1.28 writes its
#                            blob-info cache to /var/lib/containers/cache whatever the storage root)
#   /run/containers, /run/libpod, /run/runc -> .cache/podman/run/system-*  (runc's state root)
#   /var/tmp               -> .cache/podman/tmp  (c/image's big temporary files)
# Only paths that exist are covered (nothing is created outside the checkout); the mounts vanish
# with the command. Where /var/lib/containers does NOT exist (a machine that never ran podman), a
# bind mount has no mount point, and creating one would change the host: then /var/lib itself is
# first covered by an overlay with a throwaway upper layer (.cache/podman/run/var-lib-overlay.*,
# removed after the command) that only holds that mount point, and the cover above is mounted on
# it. Reads see the host's /var/lib; buildah's /var/lib/containers/cache/blob-info-cache-v1.boltdb
# lands in the checkout; /var/lib/containers never appears on the host.
# So neither the system's image store nor its state sees this test, even if a tool ignored
# CONTAINERS_STORAGE_CONF. Needs root (unshare --mount).
#   scripts/container/private.sh podman images
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/container/env.sh
source "$ROOT/scripts/container/env.sh"
if [ "${GATEKEEPER_PRIVATE_NS:-}" = "$PODMAN_STATE" ]; then
  exec "$@"   # already inside
fi
export GATEKEEPER_PRIVATE_NS=$PODMAN_STATE
# The container tools run with group 0: scripts/test.sh runs the whole suite under a group of its own
# (the host check's way to tell this run's files from others', tests/_support/hostcheck.py), and
# runc then cannot set a container's rlimits (it does so from its parent with prlimit, which needs
# the same gids or CAP_SYS_RESOURCE). Nothing they write reaches the host's container paths: the
# covers below; a podman/buildah call that bypasses this script keeps the run's group, and the host
# check sees anything it leaves in /var/lib/containers.
regid=()
if [ "$(id -u)" = 0 ] && [ "$(id -g)" != 0 ] && command -v setpriv >/dev/null 2>&1; then
  regid=(setpriv --regid 0 --keep-groups)
fi
# shellcheck disable=SC2016  # the inner script expands its own variables
exec "${regid[@]}" unshare --mount --propagation private -- bash -c '
  set -euo pipefail
  cover() { [ -d "$1" ] || return 0; mkdir -p "$2"; mount --bind "$2" "$1"; }
  ovl=
  if [ ! -d /var/lib/containers ]; then
    # No mount point on the host: an overlay over /var/lib (its own upper layer per command, so
    # concurrent commands never share one) provides it; the data still goes to the cover below.
    ovl=$(mktemp -d "$PODMAN_STATE/run/var-lib-overlay.XXXXXX")
    mkdir "$ovl/upper" "$ovl/work" "$ovl/upper/containers"
    mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$ovl/upper,workdir=$ovl/work" /var/lib
  fi
  cover /var/lib/containers "$PODMAN_STATE/system-var-lib-containers"
  cover /run/containers "$PODMAN_STATE/run/system-containers"
  cover /run/libpod "$PODMAN_STATE/run/system-libpod"
  cover /run/runc "$PODMAN_STATE/run/system-runc"
  cover /var/tmp "$PODMAN_STATE/tmp"
  [ -n "$ovl" ] || exec "$@"
  rc=0
  "$@" || rc=$?
  umount -R /var/lib && rm -rf "$ovl"
  exit "$rc"
' private.sh "$@"
