"""The `dynamic` gate in pull-request mode (issue 25, only when the BASE's policy asks:
`dynamic: {level: warn | block, pull-request: true}`).

What the PR changes in what `npm install` of the package does: the root package is packed from the head's
git objects and from the merge base's (the same commits the other gates compare), with `npm pack
--ignore-scripts` in a temp folder written from the trees (regular files only: no symlinks, submodules,
`node_modules` or `.npmrc`, so nothing of the PR configures or runs in the pack), and both tarballs are
installed in the install sandbox by `gates.dynamic.run` -- the same refusal in a job that holds a credential,
the same findings. A merge base without a package.json is a first release: everything the install does is new.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from gatekeeper._internal import npm
from gatekeeper.errors import GatekeeperError
from gatekeeper.gates import Skip
from gatekeeper.gates import dynamic as dynamic_gate

if TYPE_CHECKING:
    from gatekeeper.context import Context
    from gatekeeper.findings import Finding
    from gatekeeper.modes.pull_request.check import PullRequestCheck

#: The most a packed side may weigh in git objects (its blobs are read into memory and written out).
MAX_TREE_BYTES = 256 * 1024 * 1024
_SKIPPED_PARTS = frozenset({"node_modules", ".git"})


def applies(check: PullRequestCheck) -> bool:
    """Only when the base's policy turns the gate on AND asks for it in pull requests."""
    return check.policy.dynamic.level != "off" and check.policy.dynamic.pull_request


def check_dynamic(check: PullRequestCheck, ctx: Context) -> list[Finding]:
    if not applies(check):
        raise Skip("the base's policy does not ask for the install sandbox in pull requests (`dynamic.pull-request`)")
    head_tree = check.new
    if "package.json" not in head_tree:
        raise Skip("the head has no package.json at the repository root: no package to install")
    with tempfile.TemporaryDirectory(prefix="gk-pr-dynamic-") as tmp:
        root = Path(tmp)
        head = _pack(check, check.pr.head_sha, root / "head")
        base = _pack(check, check.merge_base, root / "base") if "package.json" in check.old else None
        label = f"{head.name}@{head.version} at the head {check.pr.head_sha[:12]}"
        if base is None:
            return dynamic_gate.run(ctx, head.name, head.path, label)
        return dynamic_gate.run(
            ctx,
            head.name,
            head.path,
            label,
            baseline=base.path,
            baseline_label=f"{base.name}@{base.version} at the merge base {check.merge_base[:12]}",
        )


def _pack(check: PullRequestCheck, sha: str, where: Path) -> npm.Packed:
    """The root package of commit `sha`, packed with `npm pack --ignore-scripts` from its git objects."""
    tree = {p: e for p, e in check.git.tree(sha).items() if _kept(p) and e.kind == "blob" and e.mode != "120000"}
    total = sum(e.size or 0 for e in tree.values())
    if total > MAX_TREE_BYTES:
        raise GatekeeperError(
            f"The package at {sha[:12]} weighs {total} bytes in git objects, more than the install sandbox packs "
            f"({MAX_TREE_BYTES})",
            "Turn `dynamic.pull-request` off in the base's policy for this repository",
        )
    src, dest = where / "src", where / "out"
    src.mkdir(parents=True)
    dest.mkdir()
    data = check.git.blobs(e.oid for e in tree.values())
    for rel, entry in tree.items():
        path = src.joinpath(*PurePosixPath(rel).parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data[entry.oid])
        path.chmod(0o755 if entry.mode == "100755" else 0o644)
    try:
        json.loads((src / "package.json").read_bytes())
    except (OSError, ValueError) as exc:  # not JSON, or not a regular file (a symlink is not written)
        raise GatekeeperError(
            f"package.json at {sha[:12]} cannot be packed ({type(exc).__name__}: {exc})",
            "Commit package.json as a regular JSON file",
        ) from exc
    return npm.pack(src, dest)


def _kept(rel: str) -> bool:
    """A path written for the pack: relative, no `..`, outside node_modules/.git, and not an `.npmrc` (npm
    never packs one; the project's would configure npm itself)."""
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return False
    return not (_SKIPPED_PARTS & set(parts)) and parts[-1] != ".npmrc"
