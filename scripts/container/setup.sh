#!/usr/bin/env bash
# The ONE set-up step of the container tests: install the Debian packages they need, once, under one
# lock, BEFORE anything builds. scripts/test.sh runs it first (in the foreground); scripts/container-test.sh
# runs it too (a no-op when everything is there), so `bash scripts/container-test.sh` alone still works.
#
#   bash scripts/container/setup.sh            # exit 0: ready; exit 3: cannot run here (reason on stderr)
#   bash scripts/container/setup.sh --check    # change nothing: exit 0 if ready, 3 (with the reason) if not
#
# What it installs, and why (only the MISSING ones; nothing when all are present):
#   podman, buildah     build ./Dockerfile (buildah bud) and run the image as GitHub's runner does (podman run)
#   runc                the OCI runtime (crun fails on these machines' hybrid cgroups: containers.conf)
#   conmon              podman's container monitor
#   fuse-overlayfs      overlay storage where the kernel's overlay cannot be used by the private store
#   uidmap              newuidmap/newgidmap, a hard dependency of buildah
#   golang-github-containers-common, containernetworking-plugins   podman's default configs and plugins
#   debootstrap         the local stand-in of the base image (scripts/container/build-base.sh)
# plus what apt pulls in for them as hard dependencies (--no-install-recommends: nothing else).
#
# What it never does: upgrade a package that is already installed. `--no-upgrade` keeps the named
# packages as they are, and APT::Get::Upgrade-By-Source-Package=false stops apt 2.6 from upgrading the
# installed siblings of a package it installs (installing uidmap otherwise upgrades `login` and
# `passwd`, built from the same source). The transaction is simulated first: if apt would still
# upgrade or remove anything, nothing is installed and the container tests skip with that reason.
#
# One lock: .cache/container-setup.lock (flock) for the test processes of this checkout, and apt's own
# dpkg lock, waited for (DPkg::Lock::Timeout) instead of failing, for any other apt on the machine.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PKGS=(podman buildah runc fuse-overlayfs uidmap conmon golang-github-containers-common
      containernetworking-plugins debootstrap)
CHECK_ONLY=0
[ "${1:-}" = --check ] && CHECK_ONLY=1

cannot_run() {
  echo "container-setup: CANNOT RUN HERE: $*" >&2
  exit 3   # tests/test_container.py turns this into a skip that says why
}
[ "$(uname -s)" = Linux ] || cannot_run "needs Linux (rootful podman/buildah), this is $(uname -s)"
[ "$(id -u)" = 0 ] || cannot_run "needs root (rootful podman/buildah with runc; the test gives its workspace to uid 1001 like the runner): run it with sudo"
command -v dpkg-query >/dev/null || cannot_run "needs Debian's packages (${PKGS[*]}) and there is no dpkg here"

missing_pkgs() {
  local pkg
  for pkg in "${PKGS[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" = installed ] || echo "$pkg"
  done
}

mkdir -p "$ROOT/.cache"
exec 7>"$ROOT/.cache/container-setup.lock"
flock 7   # one installer at a time (scripts/test.sh, a background build, the test fixture)

mapfile -t missing < <(missing_pkgs)
if [ ${#missing[@]} -eq 0 ]; then
  echo "container-setup: ${PKGS[*]}: all installed, nothing to do"
  exit 0
fi
[ "$CHECK_ONLY" = 0 ] || cannot_run "Debian packages missing: ${missing[*]} (bash scripts/container/setup.sh installs them)"
command -v apt-get >/dev/null || cannot_run "Debian packages missing (${missing[*]}) and no apt-get to install them"

APT=(apt-get -o DPkg::Lock::Timeout=600 -o APT::Get::Upgrade-By-Source-Package=false)
INSTALL=(install -y --no-install-recommends --no-upgrade)
export DEBIAN_FRONTEND=noninteractive
echo "container-setup: installing the missing Debian packages with apt-get: ${missing[*]}"
t0=$SECONDS
"${APT[@]}" update -qq >/dev/null || cannot_run "apt-get update failed (no network to the Debian mirror?)"
sim=$("${APT[@]}" -s "${INSTALL[@]}" "${missing[@]}" 2>&1) \
  || cannot_run "apt-get cannot install ${missing[*]}: $(tail -n 3 <<<"$sim" | tr '\n' ' ')"
# "Inst pkg [old] (new ...)" is an upgrade of an installed package; "Remv" a removal.
changes=$(grep -E '^(Inst [^ ]+ \[|Remv )' <<<"$sim" || true)
if [ -n "$changes" ]; then
  cannot_run "installing ${missing[*]} would change installed packages, so nothing was installed: $(tr '\n' ';' <<<"$changes")"
fi
new=$(grep -c '^Inst ' <<<"$sim" || true)
"${APT[@]}" "${INSTALL[@]}" -qq "${missing[@]}" >/dev/null
mapfile -t still < <(missing_pkgs)
[ ${#still[@]} -eq 0 ] || cannot_run "apt-get ran but these are still not installed: ${still[*]}"
echo "container-setup: installed ${missing[*]} ($new packages with their dependencies, none upgraded) in $((SECONDS - t0)) s"
