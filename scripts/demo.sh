#!/usr/bin/env bash
# Demo of the main job on an embedded local registry (Verdaccio) and the local GitHub stand-in:
# one allowed publish and two blocked ones, printing each job summary. Installs what it needs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/_venv.sh
exec "$PY" scripts/demo.py "$@"
