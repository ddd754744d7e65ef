#!/usr/bin/env bash
# Put the `gatekeeper` CLI on a runner reproducibly, from a checkout of npm-gatekeeper at a pinned commit:
#   bash <checkout>/integrations/semantic-release/install-cli.sh [DEST]
# - a venv in DEST (default: $RUNNER_TEMP/npm-gatekeeper, else a new temp dir), outside the workspace;
# - the runtime dependencies from the checkout's requirements.txt: `pip --require-hashes --no-deps
#   --only-binary=:all:` (every file hash-pinned, no builds, nothing resolved at install time);
#   the hashes are for CPython 3.11 wheels (the action image's Python): use Python 3.11;
# - the engine's code copied from the checkout (the same files the action's image runs);
# - DEST/bin/gatekeeper, exported as GATEKEEPER_BIN (and added to PATH) through $GITHUB_ENV/$GITHUB_PATH.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEST=${1:-${RUNNER_TEMP:+$RUNNER_TEMP/npm-gatekeeper}}
DEST=${DEST:-$(mktemp -d)}
PYTHON=${PYTHON:-python3}

"$PYTHON" -m venv "$DEST/venv"
"$DEST/venv/bin/pip" install --disable-pip-version-check --no-cache-dir --quiet \
  --require-hashes --no-deps --only-binary=:all: -r "$SRC/requirements.txt"
mkdir -p "$DEST/lib" "$DEST/bin"
rm -rf "$DEST/lib/gatekeeper"
cp -R "$SRC/gatekeeper" "$DEST/lib/gatekeeper"
cat >"$DEST/bin/gatekeeper" <<WRAPPER
#!/bin/sh
PYTHONPATH="$DEST/lib" exec "$DEST/venv/bin/python" -m gatekeeper "\$@"
WRAPPER
chmod 0755 "$DEST/bin/gatekeeper"
"$DEST/bin/gatekeeper" --version
if [ -n "${GITHUB_ENV:-}" ]; then echo "GATEKEEPER_BIN=$DEST/bin/gatekeeper" >>"$GITHUB_ENV"; fi
if [ -n "${GITHUB_PATH:-}" ]; then echo "$DEST/bin" >>"$GITHUB_PATH"; fi
echo "gatekeeper CLI: $DEST/bin/gatekeeper"
