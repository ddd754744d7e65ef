#!/usr/bin/env bash
# The project's test command: a .venv with the pinned requirements, `ruff check .`, then `pytest -q`.
# Works on a fresh machine with python3 (3.11+), node, npm and git; Verdaccio is installed by the
# test fixtures. Arguments are passed to pytest, e.g. `bash scripts/test.sh -k verdaccio -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh

echo "test.sh: ruff check ."
"$VENV/bin/ruff" check .

echo "test.sh: scripts/lint.sh (Dockerfile, action.yml, workflows, examples, shell scripts)"
bash scripts/lint.sh

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
