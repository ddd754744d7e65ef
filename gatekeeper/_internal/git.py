"""Read-only git access to the workspace (never runs hooks or checks anything out)."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gatekeeper._internal import hostenv
from gatekeeper._internal.proc import child_env
from gatekeeper.errors import GatekeeperError

#: Configuration a workspace's `.git/config` could set to run code, switched off on every call.
_OVERRIDES = (
    "-c",
    "core.fsmonitor=",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.pager=cat",
    "-c",
    "core.untrackedCache=false",
)


def git_env() -> dict[str, str]:
    """git's child env: the allowlist (proc.child_env), no system or global config, no attributes file of the
    system, no replace refs or grafts (they would change what a commit's tree is), no prompt, no lock taken."""
    return child_env(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_ATTR_NOSYSTEM": "1",
            "GIT_NO_REPLACE_OBJECTS": "1",
            "GIT_GRAFT_FILE": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_OPTIONAL_LOCKS": "0",
        }
    )


def git_argv(workspace: Path, *args: str) -> list[str]:
    """`git --git-dir=<ws>/.git` by its absolute path, with the overrides above.

    The repository is named by `--git-dir` (no discovery), so git's ownership check does not apply and no
    `safe.directory` override is needed (the workspace is owned by the runner's user, the container runs as
    root); only plumbing is run (rev-parse, cat-file, ls-tree, merge-base, ls-files), which runs no filter,
    hook or fsmonitor."""
    return [hostenv.tool("git"), "--no-pager", f"--git-dir={workspace / '.git'}", *_OVERRIDES, *args]


def _git(workspace: Path, *args: str, timeout: float = 60) -> bytes:
    argv = git_argv(workspace, *args)
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, check=False, env=git_env(), cwd=workspace)
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
    if not (workspace / ".git").is_dir():  # a `.git` file (gitdir: link) is not a checkout the gate reads
        return False
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
    if not (workspace / ".git").is_dir():
        return None
    argv = git_argv(workspace, *args)
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=60, check=False, env=git_env(), cwd=workspace)
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


@dataclass(frozen=True)
class _Entry:
    mode: int
    path: str
    oid: str


class _Objects:
    """`git cat-file --batch` on the workspace's object store; every object's id is re-hashed in Python, so a
    rewritten object file (git does not verify on read) is an error, not a different tree."""

    def __init__(self, workspace: Path) -> None:
        self.proc = subprocess.Popen(
            git_argv(workspace, "cat-file", "--batch"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=git_env(),
            cwd=workspace,
        )

    def read(self, oid: str, kind: str) -> bytes:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(oid.encode() + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
        if len(header) != 3 or header[1].decode() != kind:
            raise GatekeeperError(f"The workspace's git objects have no {kind} {oid[:12]}", "Check out GITHUB_SHA")
        body = self.proc.stdout.read(int(header[2]))
        self.proc.stdout.read(1)
        if _object_id(kind, body, len(oid)) != oid:
            raise GatekeeperError(
                f"The workspace's git object {oid[:12]} does not hash to its id: the object store was altered",
                "Re-run the release job from a fresh checkout; nothing may rewrite .git before the gate",
            )
        return body

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _object_id(kind: str, body: bytes, hex_len: int) -> str:
    algo = hashlib.sha256 if hex_len == 64 else hashlib.sha1
    return algo(f"{kind} {len(body)}".encode() + b"\0" + body).hexdigest()


def _tree_entries(objects: _Objects, commit: str) -> list[_Entry]:
    """Every blob, link and submodule of `commit`'s tree, read and verified object by object."""
    body = objects.read(commit, "commit")
    first = body.split(b"\n", 1)[0].split()
    if len(first) != 2 or first[0] != b"tree":
        raise GatekeeperError(f"Commit {commit[:12]} has no tree line", "Check out GITHUB_SHA")
    size = len(commit) // 2
    out: list[_Entry] = []
    stack = [(first[1].decode(), "")]
    while stack:
        oid, prefix = stack.pop()
        data = objects.read(oid, "tree")
        i = 0
        while i < len(data):
            sp = data.index(b" ", i)
            nul = data.index(b"\0", sp)
            mode = int(data[i:sp], 8)
            name = data[sp + 1 : nul].decode("utf-8", "surrogateescape")
            child = data[nul + 1 : nul + 1 + size].hex()
            i = nul + 1 + size
            path = prefix + name
            if mode == 0o40000:
                stack.append((child, path + "/"))
            else:
                out.append(_Entry(mode, path, child))
    return out


def _differs(workspace: Path, entry: _Entry) -> bool:
    """Does the workspace's file differ from the blob (content, executable bit, link target)?"""
    target = workspace / entry.path
    try:
        st = target.lstat()
    except OSError:
        return True  # deleted (or unreadable)
    if os.path.realpath(target.parent) != os.path.join(os.path.realpath(workspace), *entry.path.split("/")[:-1]):
        return True  # reached through a symlinked folder: not the tree's file
    kind = entry.mode & 0o170000
    if kind == 0o160000:  # a submodule: its own checkout, not hashed here
        return not stat.S_ISDIR(st.st_mode)
    if kind == 0o120000:
        if not stat.S_ISLNK(st.st_mode):
            return True
        data = os.fsencode(os.readlink(target))
    else:
        if not stat.S_ISREG(st.st_mode) or bool(st.st_mode & 0o100) != (entry.mode == 0o100755):
            return True
        algo = hashlib.sha256() if len(entry.oid) == 64 else hashlib.sha1()
        algo.update(f"blob {st.st_size}".encode() + b"\0")
        with open(target, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                algo.update(chunk)
        return algo.hexdigest() != entry.oid
    return _object_id("blob", data, len(entry.oid)) != entry.oid


def modified_tracked(workspace: Path, commit: str, limit: int = 20) -> list[str]:
    """Files of `commit`'s tree whose bytes (or mode) in the workspace differ, at most `limit`.

    Decided without the workspace's index or config: the tree comes from `commit`'s objects (each re-hashed
    in Python), every file is hashed in Python as a git blob and compared. `skip-worktree`,
    `assume-unchanged`, `core.worktree`, clean filters and fsmonitor play no part."""
    objects = _Objects(workspace)
    try:
        entries = _tree_entries(objects, commit)
    finally:
        objects.close()
    paths: list[str] = []
    for entry in sorted(entries, key=lambda e: e.path):
        if _differs(workspace, entry):
            paths.append(entry.path)
            if len(paths) >= limit:
                break
    return paths
