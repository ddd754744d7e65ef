"""Read-only git access to the workspace (never runs hooks or checks anything out)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..errors import GatekeeperError
from .proc import child_env


def _git(workspace: Path, *args: str, timeout: float = 60) -> bytes:
    # The workspace is mounted from the runner and owned by another uid: trust it explicitly.
    argv = ["git", "-c", f"safe.directory={workspace}", "-c", "core.fsmonitor=false", "-C", str(workspace), *args]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, check=False, env=child_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GatekeeperError(
            f"Running git in {workspace} failed ({exc})", "Check out the repository before this step"
        ) from exc
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise GatekeeperError(
            f"git {args[0]} failed in {workspace}: {err[0]}",
            "Check out the repository (actions/checkout) before this step",
        )
    return proc.stdout


def is_repo(workspace: Path) -> bool:
    try:
        _git(workspace, "rev-parse", "--git-dir")
    except GatekeeperError:
        return False
    return True


def tracked_files(workspace: Path) -> list[str]:
    """Paths git tracks in the workspace (relative, POSIX)."""
    out = _git(workspace, "ls-files", "-z")
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]
