"""The `changes`, `lockfiles` and `policy` gates (the `manifests` gate is in manifests.py)."""

from __future__ import annotations

from gatekeeper.diffing.lockfile import LockfileApprovals, LockfileError, is_lockfile, review_lockfile
from gatekeeper.errors import GatekeeperError, GitHubError
from gatekeeper.findings import Finding
from gatekeeper.modes.pull_request.check import PullRequestCheck
from gatekeeper.rules.policy import POLICY_CHANGED
from gatekeeper.rules.pull_request import MANIFEST_UNREADABLE

MAX_CROSS_CHECK_SHOWN = 10


def check_changes(check: PullRequestCheck) -> list[Finding]:
    """Cross-check: every file the API says the PR changes must differ in git objects too (fail closed)."""
    pull = check.pull
    head = pull.head.sha
    if head != check.pr.head_sha:
        raise GitHubError(
            f"The pull request's head is now {head[:12]}, not {check.pr.head_sha[:12]} as in this event",
            "A newer push triggers a newer run; re-run that one",
        )
    api: set[str] = set()
    for f in pull.get_files():
        api.add(f.filename)
        if f.previous_filename:
            api.add(f.previous_filename)
    missing = sorted(api - check.changed.keys())
    if missing:
        shown = ", ".join(f"`{p}`" for p in missing[:MAX_CROSS_CHECK_SHOWN])
        more = f" and {len(missing) - MAX_CROSS_CHECK_SHOWN} more" if len(missing) > MAX_CROSS_CHECK_SHOWN else ""
        raise GatekeeperError(
            f"GitHub lists {len(missing)} changed file(s) that the git objects of {check.merge_base[:12]}.."
            f"{check.pr.head_sha[:12]} do not change: {shown}{more}",
            "The checked-out repository does not match the pull request; check out the repository with "
            "actions/checkout and re-run",
        )
    return []


def check_lockfiles(check: PullRequestCheck) -> list[Finding]:
    """Every lockfile the PR adds, changes or deletes (outside node_modules)."""
    approvals = LockfileApprovals(
        install_scripts=frozenset(check.policy.pull_request.install_scripts),
        sources=dict(check.policy.pull_request.lockfile_sources),
    )
    old_tree, new_tree = check.old, check.new
    paths = sorted(p for p in check.changed if is_lockfile(p) and "node_modules" not in p.split("/"))
    findings: list[Finding] = []
    for path in paths:
        old, new = old_tree.get(path), new_tree.get(path)
        if new is not None and (new.kind != "blob" or new.mode == "120000"):
            findings.append(MANIFEST_UNREADABLE(f"`{path}` is a symlink or submodule, not a file.", file=path))
            continue
        oids = [e.oid for e in (old, new) if e is not None and e.kind == "blob"]
        data = check.git.blobs(oids)
        try:
            findings += review_lockfile(
                path,
                data.get(old.oid) if old is not None else None,
                data.get(new.oid) if new is not None else None,
                registry_url=check.registry,
                approvals=approvals,
            )
        except LockfileError as exc:
            findings.append(MANIFEST_UNREADABLE(f"`{path}` at the head cannot be read: {exc}.", file=path, line=1))
    return findings


def check_policy_file(check: PullRequestCheck) -> list[Finding]:
    """`policy-changed` when the PR edits the policy file (the base's copy was used)."""
    status = check.changed.get(check.policy_path)
    if status is None:
        return []
    verb = {"A": "adds", "D": "deletes"}.get(status, "edits")
    return [
        POLICY_CHANGED(
            f"This pull request {verb} the policy `{check.policy_path}`. This run used the base commit's policy "
            f"({check.policy.source}); the change applies only after merge.",
            file=check.policy_path,
            line=1 if status != "D" else None,
        )
    ]
