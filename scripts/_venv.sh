# Sourced by scripts/test.sh and scripts/demo.sh: a .venv with the pinned requirements.
# Sets PY to the venv's python. Reinstalls only when a requirements file or pyproject.toml changed.
PYTHON="${PYTHON:-python3}"
VENV="${GATEKEEPER_VENV:-.venv}"

for tool in "$PYTHON" node npm git; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "'$tool' is required but not on PATH" >&2
    exit 2
  fi
done

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check --quiet)

stamp_file="$VENV/.gatekeeper-requirements.sha256"
stamp="$(cat requirements.txt requirements-dev.txt pyproject.toml 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp_file" ] || [ "$(cat "$stamp_file")" != "$stamp" ]; then
  echo "installing requirements into $VENV"
  if [ -f requirements.txt ]; then
    "${PIP[@]}" install -r requirements.txt   # hash-pinned runtime dependencies
  fi
  "${PIP[@]}" install -r requirements-dev.txt
  "${PIP[@]}" install --no-deps -e .   # the package + `gatekeeper` console script
  echo "$stamp" >"$stamp_file"
fi
