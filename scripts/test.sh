#!/usr/bin/env bash
# The project's test command: a .venv with the pinned requirements, `ruff check .`, the container
# tests' set-up step, then pytest on all cores with lint (scripts/lint.sh) and the image build running
# alongside, and last a check that the run left the host alone.
# Works on a fresh machine with python3 (3.11+), node, npm and git; Verdaccio is installed by the
# test fixtures. Arguments are passed to pytest, e.g. `bash scripts/test.sh -k verdaccio -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The run's own group: as root, the whole run (set-up, build, pytest, every child) runs under a free
# gid picked for it, so every file it makes carries that group and the host check at the end counts
# exactly this run's files, never another process's on a shared machine (tests/_support/hostcheck.py).
# Not root (or no setpriv): the check tells files apart by their names instead, and says so.
if [ -z "${GATEKEEPER_RUN_GID:-}" ] && [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
  GATEKEEPER_RUN_GID=$("${PYTHON:-python3}" -m tests._support.hostcheck free-gid)
  export GATEKEEPER_RUN_GID
  echo "test.sh: running under a group of its own, gid $GATEKEEPER_RUN_GID (setpriv --regid; the host check counts its files)"
  exec setpriv --regid "$GATEKEEPER_RUN_GID" --keep-groups bash scripts/test.sh "$@"
fi

# What the run must leave alone on this machine (tests/_support/hostcheck.py, stdlib only): a snapshot
# now, before anything installs or runs; tests/test_host_untouched.py compares with it at the very end.
# Everything the run writes goes to ONE temp dir of its own (TMPDIR for every child: pip, pytest, the
# plugin's node --test, npm, git, Verdaccio), removed at the end; npm children get their cache and
# logs dir in it (no debug log in ~/.npm/_logs).
host_before=$("${PYTHON:-python3}" -c 'import json, sys; from tests._support.hostcheck import snapshot; json.dump(snapshot(), sys.stdout)')
SUITE_TMP=$(mktemp -d "${TMPDIR:-/tmp}/gk-suite-XXXXXX")
warm_pid=
trap '[ -z "$warm_pid" ] || kill -- "-$warm_pid" 2>/dev/null; rm -rf "$SUITE_TMP"' EXIT
printf '%s\n' "$host_before" >"$SUITE_TMP/host-before.json"
export GATEKEEPER_HOST_BEFORE=$SUITE_TMP/host-before.json GATEKEEPER_SUITE_TMP=$SUITE_TMP TMPDIR=$SUITE_TMP
export npm_config_cache=$SUITE_TMP/npm-cache npm_config_logs_dir=$SUITE_TMP/npm-logs

# For the whole suite, the installs the test fixtures would otherwise make on first use (Verdaccio, the
# provenance verifier, the packers, Node 22 + semantic-release), one after another inside pytest while the
# image builds, start now, side by side and in the background (stdlib only: no venv needed), during the
# venv, ruff, lint and apt set-up steps, which mostly wait on downloads too. Each is the fixture's own
# install under its own file lock; a fixture that needs one still being installed waits for it. A cold
# cache: 67 s one after another, 26 s side by side. A failure here fails nothing (the fixture retries).
if [ "$#" -eq 0 ]; then
  echo "test.sh: filling the tests' install cache in the background (python -m tests._support.warm)"
  setsid "${PYTHON:-python3}" -B -m tests._support.warm >"$SUITE_TMP/warm.log" 2>&1 &
  warm_pid=$!
fi

source scripts/_venv.sh

echo "test.sh: ruff check ."
"$VENV/bin/ruff" check .

# The linters are installed now (tests/test_examples.py uses them too) and run alongside the tests
# (their output and verdict at the end): they need no core of their own for 15 s. The install (pip,
# downloads) runs alongside the container set-up step (apt, downloads); pytest starts after both.
echo "test.sh: scripts/lint.sh --install-only (the pinned linters, in .cache/lint-venv; alongside the next step)"
bash scripts/lint.sh --install-only >"$SUITE_TMP/lint-install.log" 2>&1 &
lint_install_pid=$!

# The container tests' ONE set-up step, before anything builds: the Debian packages they need,
# installed under one lock, nothing upgraded (scripts/container/setup.sh says which and why). Where
# that cannot happen (not root, no apt) it says why and the container tests skip with that reason.
container=1
if [ "${GATEKEEPER_SKIP_CONTAINER:-}" = 1 ]; then
  container=0
else
  echo "test.sh: bash scripts/container/setup.sh (the container tests' Debian packages)"
  rc=0
  bash scripts/container/setup.sh || rc=$?
  if [ "$rc" -eq 3 ]; then
    container=0
    echo "test.sh: the container tests will skip (reason above)"
  elif [ "$rc" -ne 0 ]; then
    wait "$lint_install_pid" || true
    exit "$rc"
  fi
fi
if ! wait "$lint_install_pid"; then
  cat "$SUITE_TMP/lint-install.log" >&2
  echo "test.sh: installing the linters failed (above)" >&2
  exit 2
fi

# For the whole suite the container image is built in the background from the start, with its
# progress printed, while the other tests run; and so is the reproducibility check's fresh rebuild
# (in a scratch store, at the same time as the build when nothing is cached). The container tests
# then find the image built and the verdict recorded (tests/_support/container_build.py: file locks,
# nothing is built twice; the prebuild's result in GATEKEEPER_PREBUILD_RESULT lets the container
# tests use its image without a second, warm build).
build_pid=
if [ "$#" -eq 0 ] && [ "$container" = 1 ] && [ -z "${GATEKEEPER_NO_CONTAINER_PREBUILD:-}" ]; then
  export GATEKEEPER_PREBUILD_RESULT=$SUITE_TMP/container-prebuild.json
  echo "test.sh: building the container image in the background (python -m tests._support.container_build prebuild)"
  ("$PY" -m tests._support.container_build prebuild 2>&1 | sed -u 's/^/[container build] /') &
  build_pid=$!
fi

echo "test.sh: scripts/lint.sh (Dockerfile, action.yml, workflows, examples, shell scripts) in the background"
bash scripts/lint.sh >"$SUITE_TMP/lint.log" 2>&1 &
lint_pid=$!

# The suite runs on every core (pytest-xdist); the container tests stay together on one worker
# (tests/conftest.py: xdist_group "container"). The semantic-release plugin's unit tests (node --test,
# Node 22 from the test cache) are one of its tests (tests/test_semantic_release.py).
workers=${GATEKEEPER_TEST_WORKERS:-auto}
echo "test.sh: pytest -q -n $workers --dist loadgroup --durations=25 $*"
set +e
"$PY" -m pytest -q -n "$workers" --dist loadgroup --durations=25 --ignore=tests/test_host_untouched.py "$@"
rc=$?
if [ -n "$warm_pid" ]; then
  wait "$warm_pid"
  echo "test.sh: the install cache filled before pytest (exit $?):"
  cat "$SUITE_TMP/warm.log"
  warm_pid=
fi
[ -n "$build_pid" ] && wait "$build_pid"
wait "$lint_pid"
lint_rc=$?
echo "test.sh: scripts/lint.sh (ran alongside the tests, exit $lint_rc):"
cat "$SUITE_TMP/lint.log"
# Last, after everything above (the background build included): what the run left on the host.
echo "test.sh: pytest -q tests/test_host_untouched.py (the host as it was before the run)"
"$PY" -m pytest -q -s -p no:cacheprovider tests/test_host_untouched.py  # -s: its notes (other processes' files)
host_rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; failing on purpose (exit 5 must never pass silently)" >&2
  exit 1
fi
[ "$rc" -ne 0 ] || rc=$host_rc
[ "$rc" -ne 0 ] || rc=$lint_rc
exit "$rc"
