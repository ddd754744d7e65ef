"""The approval label: who applied it, with what permission, and to which head."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from gatekeeper._internal.github import GitHubClient
from gatekeeper.decision import GateResult, gate_status
from gatekeeper.findings import Finding, Severity
from gatekeeper.modes.pull_request.check import PullRequestCheck
from gatekeeper.rules.pull_request import APPROVAL_LABEL_IGNORED

#: Gates whose blocking findings the approval label can approve.
LABEL_GATES = ("manifests", "lockfiles")
WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


@dataclass(frozen=True)
class LabelApproval:
    """Whether the approval label approves this head, and why (or why not)."""

    label: str
    approved: bool
    reason: str
    actor: str = ""
    permission: str = ""


def label_approval(client: GitHubClient, check: PullRequestCheck) -> LabelApproval | None:
    """The label's verdict; None when no label is configured or it is not on the PR."""
    label = check.policy.pull_request.approval_label
    if not label:
        return None
    pull = check.pull
    current = client.call("reading the pull request's labels", lambda: [lb.name for lb in pull.labels])
    if label not in current:
        return None

    def last_labeled() -> Any:
        last = None
        for ev in pull.get_issue_events():
            if ev.event == "labeled" and ev.label is not None and ev.label.name == label:
                last = ev
        return last

    event = client.call(f"listing the events of #{check.pr.number}", last_labeled)
    if event is None or event.actor is None:
        return LabelApproval(label, False, f"no `labeled` event for `{label}` was found")
    actor = str(event.actor.login)
    permission = client.call(
        f"reading the permission of {actor}", lambda: str(client.repo.get_collaborator_permission(actor))
    )
    if permission not in WRITE_PERMISSIONS:
        return LabelApproval(
            label, False, f"it was applied by @{actor}, whose permission is `{permission}`", actor, permission
        )
    if check.pr.action != "labeled" or check.pr.label != label:
        return LabelApproval(
            label,
            False,
            f"it was applied by @{actor} before this run's `{check.pr.action}` event: a label approves the head "
            f"it was applied to, not commits pushed after it",
            actor,
            permission,
        )
    return LabelApproval(label, True, f"applied by @{actor} ({permission})", actor, permission)


def apply_label(results: list[GateResult], approval: LabelApproval | None, gates: Iterable[str]) -> list[Finding]:
    """Turn blocking findings of `gates` into warnings when the label approves; the label findings."""
    if approval is None:
        return []
    if not approval.approved:
        return [
            APPROVAL_LABEL_IGNORED(
                f"The label `{approval.label}` is on the pull request but approves nothing: {approval.reason}.",
                label=approval.label,
                actor=approval.actor,
                permission=approval.permission,
            )
        ]
    note = f" Approved by the label `{approval.label}`, {approval.reason}."
    evidence = {"approved_by": "label", "label": approval.label, "actor": approval.actor}
    for r in results:
        if r.name not in gates or r.status == "error":
            continue
        r.findings = [
            replace(f, severity=Severity.WARN, message=f.message + note, evidence={**f.evidence, **evidence})
            if f.blocks
            else f
            for f in r.findings
        ]
        r.status = gate_status(r.findings)
    return []
