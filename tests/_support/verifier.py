"""The pinned provenance verifier for the tests: `npm ci --ignore-scripts` of gatekeeper/verifier/'s lock, once.

Installed into `${GATEKEEPER_CACHE:-<repo>/.cache}/verifier-<sha256 of the lock>/node_modules` (file lock:
parallel sessions share one install; a changed lock installs afresh), as the image installs it into
/opt/verifier/node_modules. The product finds it through `GATEKEEPER_VERIFIER_MODULES`.
"""

from __future__ import annotations

from pathlib import Path

from tests._support.npm_lock import ensure_lock_installed

REPO_ROOT = Path(__file__).resolve().parents[2]
VERIFIER = REPO_ROOT / "gatekeeper" / "verifier"
ENV = "GATEKEEPER_VERIFIER_MODULES"


def ensure_installed(timeout: float = 600) -> Path:
    """The node_modules folder holding the pinned @sigstore/verify (installed unless already there)."""
    return ensure_lock_installed(
        VERIFIER, "verifier", "@sigstore/verify/package.json", "the provenance verifier", ["--omit=dev"], timeout
    )
