#!/usr/bin/env bash
# Regenerate requirements.txt (repo root) from scripts/container/requirements.in:
# exact pins for the whole dependency tree, each with the sha256 of every wheel the
# image can install -- CPython 3.11 (Debian bookworm's python3) on manylinux x86_64
# and aarch64, plus pure-Python wheels. The Dockerfile installs it with
# `pip install --require-hashes --no-deps --only-binary=:all:`, so no compiler is
# ever needed and a changed file on PyPI fails the build.
#
# Needs a python3.11 on PATH (resolution markers depend on the Python version) and
# PyPI. Work files go to .cache/lock/ (gitignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
ver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$ver" != "3.11" ]; then
  echo "lock-requirements: need Python 3.11 (the image's), got $ver; set PYTHON=python3.11" >&2
  exit 2
fi
work=.cache/lock
rm -rf "$work/wheels" && mkdir -p "$work/wheels"
if [ ! -x "$work/venv/bin/pip-compile" ]; then
  "$PY" -m venv "$work/venv"
  "$work/venv/bin/pip" install --quiet --isolated --index-url https://pypi.org/simple pip==26.0.1 pip-tools==7.5.3
fi
# --isolated: ignore this machine's pip.conf / PIP_* (extra local indexes, find-links,
# constraints): the lock must come from PyPI alone. PIP_CERT survives via --cert.
cert_args=()
[ -n "${PIP_CERT:-}" ] && cert_args=(--cert "$PIP_CERT")
PIP_FIND_LINKS='' PIP_CONSTRAINT='' PIP_EXTRA_INDEX_URL='' "$work/venv/bin/pip-compile" --quiet \
  --no-header --no-emit-index-url --no-emit-find-links --strip-extras --allow-unsafe \
  --index-url https://pypi.org/simple --pip-args "--isolated ${cert_args[*]}" \
  -o "$work/pins.txt" scripts/container/requirements.in
for arch in x86_64 aarch64; do
  # glibc 2.36 (bookworm) runs every manylinux tag up to 2_36. Listed newest first, the
  # order in which pip inside the image ranks them, so we hash the wheel it will pick.
  plats=()
  for glibc in 36 35 34 31 28 27 26 24 17; do plats+=(--platform "manylinux_2_${glibc}_$arch"); done
  plats+=(--platform "manylinux2014_$arch" --platform any)
  "$work/venv/bin/pip" download --isolated "${cert_args[@]}" --quiet --index-url https://pypi.org/simple \
    --no-deps --only-binary=:all: --implementation cp --python-version 3.11 --abi cp311 --abi abi3 --abi none \
    "${plats[@]}" -d "$work/wheels/$arch" -r "$work/pins.txt"
done
"$PY" - "$work" <<'PYEOF'
import hashlib, pathlib, re, sys

work = pathlib.Path(sys.argv[1])
def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()
hashes = {}
for wheel in sorted(work.glob("wheels/*/*.whl")):
    name, version = wheel.name.split("-")[:2]
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    hashes.setdefault((norm(name), version), set()).add(digest)
out = [
    "# Runtime dependencies of the action image, hash-pinned. GENERATED: do not edit.",
    "# Source: scripts/container/requirements.in; regenerate: bash scripts/container/lock-requirements.sh",
    "# Hashes cover the wheels for CPython 3.11 (Debian bookworm) on manylinux x86_64 and aarch64.",
    "",
]
for line in (work / "pins.txt").read_text().splitlines():
    m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)$", line)
    if not m:
        out.append(line.replace("scripts/container/requirements.in", "requirements.in"))
        continue
    key = (norm(m.group(1)), m.group(2))
    if key not in hashes:
        sys.exit(f"lock-requirements: no wheel downloaded for {line}")
    out.append(line + " \\")
    digests = sorted(hashes[key])
    for i, d in enumerate(digests):
        out.append(f"    --hash=sha256:{d}" + (" \\" if i < len(digests) - 1 else ""))
pathlib.Path("requirements.txt").write_text("\n".join(out).rstrip() + "\n")
print(f"wrote requirements.txt: {len(hashes)} packages, {sum(len(v) for v in hashes.values())} wheel hashes")
PYEOF
