"""The pinned package managers the gate packs with (pnpm, yarn berry, bun), for the tests: `npm ci --ignore-scripts`
of gatekeeper/packers/'s lock, once.

Installed into `${GATEKEEPER_CACHE:-<repo>/.cache}/packers-<sha256 of the lock>/node_modules` (file lock: parallel
sessions share one install; a changed lock installs afresh), as the image installs it into /opt/packers/node_modules.
The product finds it through `GATEKEEPER_PACKERS_MODULES` (read only where the image's copy is absent).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKERS = REPO_ROOT / "gatekeeper" / "packers"
ENV = "GATEKEEPER_PACKERS_MODULES"


def ensure_installed(timeout: float = 900) -> Path:
    """The node_modules folder holding the pinned pnpm, yarn and bun (installed unless already there)."""
    lock = (PACKERS / "package-lock.json").read_bytes()
    base = os.environ.get("GATEKEEPER_CACHE")
    root = (Path(base) if base else REPO_ROOT / ".cache") / f"packers-{hashlib.sha256(lock).hexdigest()[:16]}"
    root.mkdir(parents=True, exist_ok=True)
    modules = root / "node_modules"
    with open(root / ".install.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        stamp = root / ".installed"
        if stamp.exists() and (modules / "pnpm" / "package.json").is_file():
            return modules
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is required to install the pinned package managers for the tests")
        shutil.copyfile(PACKERS / "package.json", root / "package.json")
        (root / "package-lock.json").write_bytes(lock)
        proc = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error", "--engine-strict=false"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"npm ci of the package managers failed in {root}:\n{proc.stdout}\n{proc.stderr}")
        stamp.write_text("ok\n")
    return modules
