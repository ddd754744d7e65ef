"""Read-only git access to the workspace (never runs hooks or checks anything out)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gatekeeper._internal.proc import child_env
from gatekeeper.errors import GatekeeperError


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


# -- issue 8: the released commit, its tags and history (read-only)


def _try(workspace: Path, *args: str) -> bytes | None:
    """Like `_git`, but None when git answers non-zero (a missing ref or object)."""
    argv = ["git", "-c", f"safe.directory={workspace}", "-c", "core.fsmonitor=false", "-C", str(workspace), *args]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=60, check=False, env=child_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GatekeeperError(f"Running git in {workspace} failed ({exc})", "Check out the repository first") from exc
    return proc.stdout if proc.returncode == 0 else None


def commit_of(workspace: Path, ref: str) -> str | None:
    """The commit sha `ref` (a tag, branch or sha) names in the checkout, or None."""
    if ref.startswith("-"):
        return None
    out = _try(workspace, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    return out.decode().strip() if out else None


def is_ancestor(workspace: Path, ancestor: str, commit: str) -> bool:
    """Is `ancestor` reachable from `commit` (or the same commit)?"""
    return _try(workspace, "merge-base", "--is-ancestor", ancestor, commit) is not None


def file_at(workspace: Path, commit: str, path: str, max_bytes: int) -> bytes | None:
    """The bytes of `path` at `commit` (None: no such file); larger than `max_bytes` raises."""
    spec = f"{commit}:{path}"
    size = _try(workspace, "cat-file", "-s", spec)
    if size is None:
        return None
    if int(size.decode().strip() or 0) > max_bytes:
        raise GatekeeperError(f"{path} at {commit[:12]} is larger than {max_bytes} bytes", "Shrink the file")
    return _try(workspace, "cat-file", "blob", spec)


def head(workspace: Path) -> str | None:
    """The checked-out commit, or None (no repository, no commit)."""
    return commit_of(workspace, "HEAD")


def modified_tracked(workspace: Path, limit: int = 20) -> list[str]:
    """Tracked files whose content differs from HEAD (staged or not), at most `limit`."""
    out = _git(workspace, "status", "--porcelain=v1", "-z", "--untracked-files=no", "--ignore-submodules=none")
    entries = [e for e in out.decode("utf-8", "surrogateescape").split("\0") if e]
    paths: list[str] = []
    skip = False
    for e in entries:
        if skip:  # the source path of a rename
            skip = False
            continue
        if e[:1] in ("R", "C"):
            skip = True
        paths.append(e[3:])
        if len(paths) >= limit:
            break
    return paths
