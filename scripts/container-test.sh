#!/usr/bin/env bash
# Build the action's REAL Dockerfile locally and test the image the way GitHub runs it.
#
#   bash scripts/container-test.sh               # build, then pytest tests/test_container.py
#   bash scripts/container-test.sh --build-only  # build only (tests/test_container.py calls this)
#
# 1. Installs podman, buildah, runc, debootstrap ... from Debian if any is missing (needs root + apt-get).
# 2. Makes the base image if missing: scripts/container/build-base.sh imports a local stand-in
#    for docker.io/library/node:22-bookworm-slim (no container registry is reachable here).
# 3. buildah bud of ./Dockerfile, unchanged except --build-arg BASE_IMAGE=<that name>, which
#    bypasses the digest pin for this local build only; --network host, runc, --layers.
#    GATEKEEPER_REAL_BASE=1 (GitHub-hosted CI, where Docker Hub is reachable): no stand-in and no
#    build arg, the digest-pinned official base is pulled.
# Settings (runc, host network, ulimits) come from scripts/container/containers.conf via
# CONTAINERS_CONF; the default bridge network is never used.
#
# Measured on the 2-core dev/CI machine (x86_64), see docs/CONTAINER.md:
#   image 408 MB (stand-in base 224 MB + one 184 MB layer: python3, git, venv, npm 11; code 0.15 MB)
#   cold (nothing cached, incl. debootstrap):  ~37 s base + ~32 s image = ~70 s
#   base tarball cached, no images:            ~4 s import + 27-60 s image (download speeds vary)
#   warm, gatekeeper/ changed:                 0.6 s;  warm, nothing changed: 0.7 s
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

IMAGE=${GATEKEEPER_IMAGE:-localhost/npm-gatekeeper:test}
BASE=docker.io/library/node:22-bookworm-slim
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/scripts/container/containers.conf}
PKGS=(podman buildah runc fuse-overlayfs uidmap conmon golang-github-containers-common
      containernetworking-plugins debootstrap)

missing=()
for tool in podman buildah runc debootstrap fuse-overlayfs; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "container-test: missing ${missing[*]} and no apt-get to install them" >&2
    exit 3   # tests/test_container.py turns this into a loud skip
  fi
  echo "container-test: installing ${PKGS[*]} (missing: ${missing[*]})"
  t0=$SECONDS
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
  echo "container-test: installed in $((SECONDS - t0)) s"
fi

mkdir -p "$ROOT/.cache/container"
exec 8>"$ROOT/.cache/container/image-build.lock"
flock 8   # one image build at a time

t0=$SECONDS
if [ "${GATEKEEPER_REAL_BASE:-}" = 1 ]; then
  # Where a registry IS reachable (GitHub-hosted CI): the Dockerfile exactly as GitHub builds it,
  # pulling the digest-pinned official base.
  base_args=(--pull=missing)
else
  bash scripts/container/build-base.sh
  base_args=(--pull=never --build-arg "BASE_IMAGE=$BASE")
fi
t1=$SECONDS
buildah bud --quiet --runtime runc --network host --layers --force-rm \
  --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
  "${base_args[@]}" -t "$IMAGE" -f Dockerfile . >/dev/null
t2=$SECONDS
# Drop superseded builds (untagged leaves, e.g. older gatekeeper/ layers); the layer cache of the
# current image is its parents, which stay.
podman image prune -f >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "container-test: base $((t1 - t0)) s, image $((t2 - t1)) s; $IMAGE is $((size / 1000000)) MB"

if [ "${1:-}" = "--build-only" ]; then
  exit 0
fi
PY=python3
[ -x "$ROOT/.venv/bin/python" ] && PY=$ROOT/.venv/bin/python
GATEKEEPER_IMAGE_BUILT=1 exec "$PY" -m pytest -q tests/test_container.py "$@"
