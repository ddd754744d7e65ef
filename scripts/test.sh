#!/usr/bin/env bash
# The project's test command: a .venv with the pinned requirements, `ruff check .`, then `pytest -q`.
# Works on a fresh machine with python3 (3.11+), node, npm and git; Verdaccio is installed by the
# test fixtures. Arguments are passed to pytest, e.g. `bash scripts/test.sh -k verdaccio -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
VENV="${GATEKEEPER_VENV:-.venv}"

for tool in "$PYTHON" node npm git; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "test.sh: '$tool' is required but not on PATH" >&2
    exit 2
  fi
done

if [ ! -x "$VENV/bin/python" ]; then
  echo "test.sh: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check --quiet)

# Reinstall only when a requirements file or pyproject.toml changed since the last install.
stamp_file="$VENV/.gatekeeper-requirements.sha256"
stamp="$(cat requirements.txt requirements-dev.txt pyproject.toml 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp_file" ] || [ "$(cat "$stamp_file")" != "$stamp" ]; then
  echo "test.sh: installing requirements into $VENV"
  if [ -f requirements.txt ]; then
    "${PIP[@]}" install -r requirements.txt   # hash-pinned runtime dependencies
  fi
  "${PIP[@]}" install -r requirements-dev.txt
  "${PIP[@]}" install --no-deps -e .   # the package + `gatekeeper` console script
  echo "$stamp" >"$stamp_file"
fi

echo "test.sh: ruff check ."
"$VENV/bin/ruff" check .

echo "test.sh: pytest -q $*"
set +e
"$PY" -m pytest -q "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; failing on purpose (exit 5 must never pass silently)" >&2
  exit 1
fi
exit "$rc"
