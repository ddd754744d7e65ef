"""A pinned npm lock of the product's (gatekeeper/verifier/, gatekeeper/packers/) installed once for the tests.

`npm ci --ignore-scripts` of `<folder>/package-lock.json` into `${GATEKEEPER_CACHE:-<repo>/.cache}/<name>-<sha256 of
the lock>/node_modules` (file lock: parallel sessions share one install; a changed lock installs afresh), as the
image installs it into /opt/<name>/node_modules.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def ensure_lock_installed(folder: Path, name: str, marker: str, what: str, extra: list[str], timeout: float) -> Path:
    """The node_modules folder of `folder`'s lock (installed unless `marker`, a path under it, is already there)."""
    lock = (folder / "package-lock.json").read_bytes()
    base = os.environ.get("GATEKEEPER_CACHE")
    root = (Path(base) if base else REPO_ROOT / ".cache") / f"{name}-{hashlib.sha256(lock).hexdigest()[:16]}"
    root.mkdir(parents=True, exist_ok=True)
    modules = root / "node_modules"
    with open(root / ".install.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        stamp = root / ".installed"
        if stamp.exists() and (modules / marker).is_file():
            return modules
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(f"npm is required to install {what} for the tests")
        shutil.copyfile(folder / "package.json", root / "package.json")
        (root / "package-lock.json").write_bytes(lock)
        proc = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error", *extra],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"npm ci of {what} failed in {root}:\n{proc.stdout}\n{proc.stderr}")
        stamp.write_text("ok\n")
    return modules
