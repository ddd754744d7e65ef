#!/usr/bin/env bash
# Build the action's REAL Dockerfile locally and test the image the way GitHub runs it.
#
#   bash scripts/container-test.sh                  # build, then pytest tests/test_container.py
#   bash scripts/container-test.sh --build-only     # build only (tests/test_container.py calls this)
#   bash scripts/container-test.sh --build-only --no-cache   # rebuild every layer after FROM
#
# Needs (stated here, checked first; exit 3 = "cannot run here", which the test turns into a skip):
#   * Linux and root: rootful podman/buildah (runc), and the test chowns its workspace to another uid;
#   * the Debian packages listed in scripts/container/setup.sh, the one set-up step, run first: it
#     installs only the MISSING ones (apt-get, network to the Debian mirror), upgrades nothing, and
#     installs nothing when all are present.
# What it changes: only this checkout's .cache/ (and its own temp dir under it). Images, layers and
# podman's state live in a PRIVATE store, .cache/podman/ (scripts/container/env.sh); the system store
# (/var/lib/containers) is never used.
#
# Steps:
# 1. Makes the base if missing: scripts/container/build-base.sh imports a local stand-in for
#    docker.io/library/node:22-bookworm-slim (no container registry is reachable here) under the
#    project-specific name localhost/npm-gatekeeper-test/node-standin:22-bookworm-slim.
# 2. buildah bud of ./Dockerfile, unchanged except --build-arg BASE_IMAGE=<that name>, which
#    bypasses the digest pin for this local build only; --network host, runc, --layers, and
#    --timestamp $SOURCE_DATE_EPOCH (default: the last commit of Dockerfile/requirements.txt) for a
#    reproducible digest.
#    GATEKEEPER_REAL_BASE=1 (GitHub-hosted CI, where Docker Hub is reachable): no stand-in and no
#    build arg, the digest-pinned official base is pulled (into the private store).
# Progress goes to stdout line by line (every STEP, and a heartbeat every 15 s); buildah's full
# output goes to .cache/podman/build.log and its tail is printed when the build fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

IMAGE=${GATEKEEPER_IMAGE:-localhost/npm-gatekeeper:test}
BASE=localhost/npm-gatekeeper-test/node-standin:22-bookworm-slim
ARGS=("$@")
BUILD_ONLY=0
CACHE_ARGS=(--layers)
while [ $# -gt 0 ]; do
  case "$1" in
    --build-only) BUILD_ONLY=1 ;;
    --no-cache) CACHE_ARGS=(--layers --no-cache) ;;   # same layers as a cached build, all rebuilt
    *) break ;;
  esac
  shift
done

cannot_run() {
  echo "container-test: CANNOT RUN HERE: $*" >&2
  exit 3   # tests/test_container.py turns this into a skip that says why
}
[ "$(uname -s)" = Linux ] || cannot_run "needs Linux (rootful podman/buildah), this is $(uname -s)"
[ "$(id -u)" = 0 ] || cannot_run "needs root (rootful podman/buildah with runc; the test gives its workspace to uid 1001 like the runner): run it with sudo"

if [ -z "${GATEKEEPER_PRIVATE_NS:-}" ]; then
  # The one set-up step (installs only what is missing, under its lock; a no-op when all is there).
  rc=0
  bash scripts/container/setup.sh || rc=$?
  [ "$rc" -eq 0 ] || exit "$rc"   # 3: cannot run here, with the reason already on stderr
fi

# From here on: inside a private mount namespace with the private store (scripts/container/private.sh).
if [ "${GATEKEEPER_PRIVATE_NS:-}" != "${GATEKEEPER_PODMAN_STATE:-$ROOT/.cache/podman}" ]; then
  exec bash scripts/container/private.sh bash "$0" "${ARGS[@]}"
fi
# shellcheck source=scripts/container/env.sh
source scripts/container/env.sh
echo "container-test: private image store $PODMAN_STATE (CONTAINERS_STORAGE_CONF, CONTAINERS_CONF)"
exec 8>"$PODMAN_STATE/image-build.lock"
flock 8   # one image build at a time
trap 'rm -rf "${TMPDIR:?}"/* 2>/dev/null || true' EXIT

# The image's timestamp (config, history, every file in every layer), the same for every build of a
# commit: the time of the last commit that changed the heavy layer's inputs (Dockerfile,
# requirements.txt), as .github/workflows/release-action.yml sets it. Not HEAD's time: buildah keys
# its layer cache on the timestamp, and every commit would then rebuild the whole image.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct -- Dockerfile requirements.txt 2>/dev/null || true)
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
fi
export SOURCE_DATE_EPOCH

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
echo "container-test: building $IMAGE from ./Dockerfile (${CACHE_ARGS[*]}, --timestamp $SOURCE_DATE_EPOCH; cold: several minutes)"
LOG=$PODMAN_STATE/build.log
set +e
buildah bud --runtime runc --network host "${CACHE_ARGS[@]}" --force-rm \
  --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 --timestamp "$SOURCE_DATE_EPOCH" \
  "${base_args[@]}" -t "$IMAGE" -f Dockerfile . 2>&1 | {
  : >"$LOG"
  beat=$SECONDS
  line=
  while true; do
    if IFS= read -r -t 15 line; then
      printf '%s\n' "$line" >>"$LOG"
      case "$line" in
        STEP*) echo "container-test:   +$((SECONDS - t1)) s ${line:0:110}"; beat=$SECONDS; continue ;;
      esac
    elif [ $? -le 128 ]; then
      break   # end of buildah's output
    fi
    if [ $((SECONDS - beat)) -ge 15 ]; then   # a heartbeat, with buildah's latest line
      echo "container-test:   +$((SECONDS - t1)) s ... ${line:0:100}"
      beat=$SECONDS
    fi
  done
}
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo "container-test: buildah bud failed (exit $rc); the end of $LOG:" >&2
  tail -n 40 "$LOG" >&2
  exit 1
fi
t2=$SECONDS
# Keep the layer cache of the build stage: the final stage starts FROM scratch, so the build stage's
# images are no parents of the image and a prune would drop them (the next build then re-ran the whole
# heavy RUN, minutes, although nothing had changed). Tagged, they stay; the tag moves with every build.
n=0
while read -r stage_id; do
  n=$((n + 1))
  podman tag "$stage_id" "$IMAGE-stage-$n"
done < <(awk '/^\[[0-9]+\/[0-9]+\] STEP 1\// && prev != "" {print prev} /^--> [0-9a-f]+$/ {prev=$2}' "$LOG")
# Drop superseded builds (untagged leaves, e.g. older gatekeeper/ layers or an older build stage); the
# layer cache of the current image is its parents and the tagged stages, which stay.
podman image prune -f >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
cached=$(grep -c -- '--> Using cache' "$LOG" || true)
echo "container-test: base $((t1 - t0)) s, image $((t2 - t1)) s; $IMAGE is $((size / 1000000)) MB," \
  "id $(podman image inspect --format '{{.Id}}' "$IMAGE" | cut -c1-12), $cached steps from the layer cache"

if [ "$BUILD_ONLY" = 1 ]; then
  exit 0
fi
PY=python3
[ -x "$ROOT/.venv/bin/python" ] && PY=$ROOT/.venv/bin/python
GATEKEEPER_IMAGE_BUILT=1 "$PY" -m pytest -q tests/test_container.py "$@"
