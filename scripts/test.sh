#!/usr/bin/env bash
# The project's test command: a .venv with the pinned requirements, `ruff check .`, lint, then pytest
# on all cores.
# Works on a fresh machine with python3 (3.11+), node, npm and git; Verdaccio is installed by the
# test fixtures. Arguments are passed to pytest, e.g. `bash scripts/test.sh -k verdaccio -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh

echo "test.sh: ruff check ."
"$VENV/bin/ruff" check .

echo "test.sh: scripts/lint.sh (Dockerfile, action.yml, workflows, examples, shell scripts)"
bash scripts/lint.sh

echo "test.sh: the semantic-release plugin's unit tests (node --test, Node 22 from the test cache)"
NODE22=$("$PY" -c 'from tests._support.semrel import ensure_installed; print(ensure_installed().node)')
(cd integrations/semantic-release && PATH="$(dirname "$NODE22"):$PATH" "$NODE22" --test "test/*.test.js")
export GATEKEEPER_PLUGIN_TESTS_RAN=1

# The suite runs on every core (pytest-xdist); the container tests stay together on one worker
# (tests/conftest.py: xdist_group "container"). For the whole suite the container image is built in
# the background from the start, with its progress printed, while the other tests run; the container
# tests' own build call then finds it built (scripts/container-test.sh holds a lock).
workers=${GATEKEEPER_TEST_WORKERS:-auto}
build_pid=
if [ "$#" -eq 0 ] && [ -z "${GATEKEEPER_NO_CONTAINER_PREBUILD:-}" ]; then
  echo "test.sh: building the container image in the background (scripts/container-test.sh --build-only)"
  (bash scripts/container-test.sh --build-only 2>&1 | sed -u 's/^/[container build] /') &
  build_pid=$!
fi

echo "test.sh: pytest -q -n $workers --dist loadgroup $*"
set +e
"$PY" -m pytest -q -n "$workers" --dist loadgroup "$@"
rc=$?
[ -n "$build_pid" ] && wait "$build_pid"
set -e
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; failing on purpose (exit 5 must never pass silently)" >&2
  exit 1
fi
exit "$rc"
