"""The pinned package managers the gate packs with (pnpm, yarn berry, bun), for the tests: `npm ci --ignore-scripts`
of gatekeeper/packers/'s lock, once.

Installed into `${GATEKEEPER_CACHE:-<repo>/.cache}/packers-<sha256 of the lock>/node_modules` (file lock: parallel
sessions share one install; a changed lock installs afresh), as the image installs it into /opt/packers/node_modules.
The product finds it through `GATEKEEPER_PACKERS_MODULES` (read only where the image's copy is absent).
"""

from __future__ import annotations

from pathlib import Path

from tests._support.npm_lock import ensure_lock_installed

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKERS = REPO_ROOT / "gatekeeper" / "packers"
ENV = "GATEKEEPER_PACKERS_MODULES"


def ensure_installed(timeout: float = 900) -> Path:
    """The node_modules folder holding the pinned pnpm, yarn and bun (installed unless already there)."""
    return ensure_lock_installed(
        PACKERS, "packers", "pnpm/package.json", "the pinned package managers", ["--engine-strict=false"], timeout
    )
