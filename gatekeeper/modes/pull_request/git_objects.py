"""Read-only access to base and head through git objects; a missing commit is fetched by id."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gatekeeper._internal.git import git_argv, git_env
from gatekeeper.errors import GatekeeperError
from gatekeeper.modes.pull_request.event import _SHA


@dataclass(frozen=True)
class TreeEntry:
    """One path of a commit's tree (`git ls-tree -r -l`)."""

    mode: str
    kind: str  # blob | commit (submodule)
    oid: str
    size: int | None


class GitObjects:
    """Read-only access to commits of the checked-out repository, by object id (never a checkout)."""

    def __init__(self, workspace: Path, env: Mapping[str, str] | None = None) -> None:
        self.workspace = workspace
        self._env = env or {}
        self._trees: dict[str, dict[str, TreeEntry]] = {}

    def _argv(self, *args: str) -> list[str]:
        return git_argv(self.workspace, *args)  # no safe.directory override, no hook/fsmonitor (issue 21)

    def _run(
        self, *args: str, input: bytes | None = None, extra_env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> bytes:
        env = {**git_env(), **(extra_env or {})}
        try:
            proc = subprocess.run(
                self._argv(*args), input=input, capture_output=True, timeout=timeout, check=False, env=env
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GatekeeperError(f"git {args[0]} failed in {self.workspace} ({exc})") from exc
        if proc.returncode != 0:
            last = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise GatekeeperError(
                f"git {args[0]} failed in {self.workspace}: {last[0]}",
                "Check out the repository (actions/checkout) before this step",
            )
        return proc.stdout

    def has_commit(self, sha: str) -> bool:
        try:
            self._run("cat-file", "-e", f"{sha}^{{commit}}")
        except GatekeeperError:
            return False
        return True

    def ensure_commits(self, shas: Iterable[str], token: str | None) -> None:
        """Fetch the commits that are missing (objects only: nothing is checked out, no tags, no hooks)."""
        missing = [s for s in dict.fromkeys(shas) if not self.has_commit(s)]
        if not missing:
            return
        args = ("fetch", "--no-tags", "--no-recurse-submodules", "--no-write-fetch-head", "--quiet", "origin")
        try:
            self._run(*args, *missing, timeout=600)
        except GatekeeperError as plain:
            server = self._env.get("GITHUB_SERVER_URL", "").rstrip("/")
            if not token or not server.startswith("https://"):
                raise self._fetch_error(missing, plain) from None
            auth = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            header = {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": f"http.{server}/.extraheader",
                "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {auth}",
            }
            try:
                self._run(*args, *missing, extra_env=header, timeout=600)
            except GatekeeperError as authed:
                raise self._fetch_error(missing, authed) from None
        still = [s for s in missing if not self.has_commit(s)]
        if still:
            raise GatekeeperError(f"git fetch did not bring commit {still[0]}", "Check out the repository first")

    @staticmethod
    def _fetch_error(missing: list[str], exc: GatekeeperError) -> GatekeeperError:
        return GatekeeperError(
            f"Commit {missing[0][:12]} of the pull request is not in the checked-out repository and fetching it "
            f"failed ({exc.what})",
            "Check out the repository with actions/checkout (fetch-depth: 0) before this step",
        )

    def merge_base(self, a: str, b: str) -> str:
        try:
            out = self._run("merge-base", a, b).decode().strip()
        except GatekeeperError as exc:
            raise GatekeeperError(
                f"No merge base of {a[:12]} and {b[:12]} ({exc.what})",
                "Check out with `fetch-depth: 0` so the history of both commits is available",
            ) from None
        if not _SHA.match(out):
            raise GatekeeperError(f"git merge-base answered {out!r}")
        return out

    def tree(self, sha: str) -> dict[str, TreeEntry]:
        """Every path of the commit's tree, recursively (cached)."""
        if sha not in self._trees:
            self._trees[sha] = self._ls_tree("-r", sha)
        return self._trees[sha]

    def entry(self, sha: str, path: str) -> TreeEntry | None:
        """One path of the commit's tree, or None."""
        return self._ls_tree(sha, "--", path).get(path)

    def _ls_tree(self, *args: str) -> dict[str, TreeEntry]:
        tree: dict[str, TreeEntry] = {}
        for entry in self._run("ls-tree", "-l", "-z", "--full-tree", *args).split(b"\0"):
            if not entry:
                continue
            meta, _, raw_path = entry.partition(b"\t")
            mode, kind, oid, size = meta.decode().split()
            tree[raw_path.decode("utf-8", "surrogateescape")] = TreeEntry(
                mode, kind, oid, int(size) if size.isdigit() else None
            )
        return tree

    def changed(self, a: str, b: str) -> dict[str, str]:
        """Paths that differ between two commits -> A | D | M | T (renames listed as D + A)."""
        out = self._run("diff-tree", "-r", "-z", "--no-renames", "--no-ext-diff", "--name-status", a, b)
        parts = out.split(b"\0")
        changes: dict[str, str] = {}
        for i in range(0, len(parts) - 1, 2):
            status = parts[i].decode()
            if status:
                changes[parts[i + 1].decode("utf-8", "surrogateescape")] = status[0]
        return changes

    def blobs(self, oids: Iterable[str]) -> dict[str, bytes]:
        """The contents of blobs, by object id, in one `git cat-file --batch`."""
        wanted = list(dict.fromkeys(oids))
        if not wanted:
            return {}
        out = self._run("cat-file", "--batch", input="".join(f"{o}\n" for o in wanted).encode())
        result: dict[str, bytes] = {}
        pos = 0
        for oid in wanted:
            end = out.index(b"\n", pos)
            header = out[pos:end].decode().split()
            if len(header) != 3 or header[0] != oid:
                raise GatekeeperError(f"git cat-file could not read object {oid} ({' '.join(header)})")
            size = int(header[2])
            result[oid] = out[end + 1 : end + 1 + size]
            pos = end + 1 + size + 1
        return result
