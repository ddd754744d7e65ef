"""The notify step: after a successful publish, the GitHub Release with the gate's record, mentions, a webhook.

The last step of the one-way flow (context -> gates -> review -> decision -> report -> publish -> notify).
It never un-publishes: a failure here is reported as an error (`notified: false`, exit 2) while the
version stays published. The record's format is `steps/record.py`; every piece of text we put in a body
that comes from a package (file names, package.json values, finding messages) goes through
`_internal/markdown.py` and `record.defuse`, and so does text kept from an existing Release body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gatekeeper._internal import markdown
from gatekeeper._internal.webhook import post_event
from gatekeeper.errors import GatekeeperError
from gatekeeper.secret import Secret
from gatekeeper.steps.record import MARKER_ANY, Record, defuse, tag_for
from gatekeeper.trust.policy import NotifyPolicy

if TYPE_CHECKING:
    from gatekeeper._internal.github import GitHubClient
    from gatekeeper._internal.registry import RegistryClient

BEGIN, END = "<!-- npm-gatekeeper:begin -->", "<!-- npm-gatekeeper:end -->"
MAX_BODY = 120_000  # GitHub refuses Release bodies over 125000 characters
MAX_FILES = 100
APPROVER_KEYS = ("approved_by", "approver", "approvers", "reviewer", "reviewers", "by")


# -- what gets sent -----------------------------------------------------------------------------------


@dataclass
class Published:
    """Everything notify needs about one published version (from the run, or a report file)."""

    name: str
    version: str
    integrity: str
    previous_version: str | None
    commit: str
    run_url: str
    delta: Mapping[str, Any] | None = None
    findings: Sequence[Mapping[str, Any]] = field(default_factory=list)
    #: `publish-with: stage`: the registry holds these bytes until a maintainer approves them (then it serves
    #: exactly them), so the record is written now — watch would otherwise take the approved version for a
    #: release that bypassed the gate.
    staged: bool = False
    #: The packument the publish step read after the upload and found serving `integrity` (None: read it here).
    packument: Mapping[str, Any] | None = None
    #: The consumer-resolved tree's packages that run install scripts (None: not resolved); goes into the record.
    install_scripts: tuple[str, ...] | None = None


@dataclass
class NotifyResult:
    """What notify did; `ok` is False when anything configured failed."""

    release_url: str | None = None
    release_action: str = "not configured"  # created | updated | not configured | failed
    webhook: str = "not configured"  # sent | failed | not configured
    errors: list[str] = field(default_factory=list)
    #: What the record lacks but the run still did right (e.g. no install-script set: watch cannot report drift).
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "release": self.release_action,
            "release_url": self.release_url,
            "webhook": self.webhook,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }


def approved(findings: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Findings that record an approval (`approved-change`, `approved-by-review`, any `approved-*`)."""
    return [f for f in findings if str(f.get("rule", "")).startswith("approved-")]


def approvers(finding: Mapping[str, Any]) -> str:
    ev = finding.get("evidence")
    if not isinstance(ev, Mapping):
        return ""
    for key in APPROVER_KEYS:
        value = ev.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value:
            return ", ".join(str(v) for v in value)
    return ""


def release_section(rel: Published, mentions: Sequence[str], record: Record) -> str:
    """Our part of the Release body: summary, delta, approvals, mentions, then the record (last)."""
    name = markdown.code(f"{rel.name}@{rel.version}")
    done = "staged (public once a maintainer approves it)" if rel.staged else "published"
    lines = [f"### {name} {done} through npm-gatekeeper", ""]
    facts = [f"Tarball integrity: {markdown.code(rel.integrity)}"]
    if rel.commit:
        facts.append(f"commit {markdown.code(rel.commit)}")
    if rel.run_url:
        facts.append(f"[workflow run]({rel.run_url})")
    lines += ["; ".join(facts) + ".", ""]
    prev = markdown.code(f"{rel.name}@{rel.previous_version}") if rel.previous_version else "nothing (first release)"
    lines += [f"Compared with {prev}.", ""]
    delta = rel.delta or {}
    files = [f for f in delta.get("files") or [] if isinstance(f, Mapping)]
    summary = delta.get("summary") if isinstance(delta.get("summary"), Mapping) else {}
    if summary:
        lines += [
            f"Files: {summary.get('added', 0)} added, {summary.get('removed', 0)} removed, "
            f"{summary.get('changed', 0)} changed, {summary.get('mode', 0)} mode changed.",
            "",
        ]
    if files:
        lines += ["| Change | File |", "| --- | --- |"]
        for f in files[:MAX_FILES]:
            lines.append(f"| {markdown.text(str(f.get('status', '')))} | {markdown.code(str(f.get('path', '')))} |")
        if len(files) > MAX_FILES:
            lines.append(f"| | … and {len(files) - MAX_FILES} more |")
        lines.append("")
    fields = [c for c in delta.get("fields") or [] if isinstance(c, Mapping)]
    if fields:
        lines += ["| package.json field | Before | After |", "| --- | --- | --- |"]
        for c in fields[:MAX_FILES]:
            lines.append(
                f"| {markdown.code(str(c.get('field', '')))} | {markdown.text(_short(c.get('old')), 300)} "
                f"| {markdown.text(_short(c.get('new')), 300)} |"
            )
        lines.append("")
    ok = approved(rel.findings)
    if ok:
        lines += ["| Approved finding | What | Approved by |", "| --- | --- | --- |"]
        for f in ok:
            lines.append(
                f"| {markdown.code(str(f.get('rule', '')))} | {markdown.text(str(f.get('message', '')), 500)} "
                f"| {markdown.text(approvers(f) or 'the policy (exact approval)')} |"
            )
        lines.append("")
    if mentions:
        lines += ["cc " + " ".join(mentions), ""]
    body = defuse("\n".join(lines))
    if len(body) > MAX_BODY - 2000:
        body = body[: MAX_BODY - 2100] + "\n\n_(truncated: see the workflow run's JSON report)_\n"
    return BEGIN + "\n" + body + "\n" + END + "\n" + record.line() + "\n"


def _short(value: Any, limit: int = 160) -> str:
    if value is None:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def merge_body(existing: str, section: str) -> str:
    """Keep the text of an existing Release (semantic-release's notes), replace our section, record last."""
    kept = existing
    if BEGIN in kept:
        head, _, rest = kept.partition(BEGIN)
        _, found, tail = rest.partition(END)
        kept = head + (tail if found else "")
    kept = "\n".join(ln for ln in kept.splitlines() if not MARKER_ANY.search(ln))
    kept = defuse(kept).strip()
    if len(kept) > MAX_BODY - len(section) - 10:
        kept = kept[: MAX_BODY - len(section) - 100] + "\n…"
    return (kept + "\n\n" if kept else "") + section


def event(rel: Published, result: NotifyResult, repository: str) -> dict[str, Any]:
    """The webhook's JSON event (one per release)."""
    counts = {"block": 0, "warn": 0, "info": 0}
    for f in rel.findings:
        sev = str(f.get("severity", ""))
        if sev in counts:
            counts[sev] += 1
    return {
        "event": "npm-gatekeeper.release",
        "name": rel.name,
        "version": rel.version,
        "integrity": rel.integrity,
        "previous_version": rel.previous_version,
        "repository": repository,
        "commit": rel.commit,
        "run_url": rel.run_url,
        "release_url": result.release_url,
        "staged": rel.staged,
        "findings": {
            **counts,
            "approved": [{"rule": f.get("rule"), "approved_by": approvers(f) or None} for f in approved(rel.findings)],
        },
    }


def explain(exc: GatekeeperError) -> str:
    return exc.what.rstrip(".") + (". " + exc.remedy.rstrip(".") if exc.remedy else "")


def registry_check(registry: RegistryClient, rel: Published) -> tuple[str, ...]:
    """The maintainers now on the registry; raises when the registry's integrity is not the gated one."""
    doc = rel.packument if rel.packument is not None else registry.packument(rel.name)
    meta = ((doc or {}).get("versions") or {}).get(rel.version)
    dist = meta.get("dist") if isinstance(meta, dict) else None
    got = dist.get("integrity") if isinstance(dist, dict) else None
    if rel.staged and meta is None:
        pass  # not public until approved; the stage endpoint took exactly the gated bytes
    elif got != rel.integrity:
        raise GatekeeperError(
            f"The registry's integrity of {rel.name}@{rel.version} is {got or 'missing'}, not the gated "
            f"tarball's {rel.integrity}",
            "Something other than the checked tarball was published: investigate before trusting this version",
        )
    people = (doc or {}).get("maintainers")
    names = [p.get("name") for p in people if isinstance(p, dict)] if isinstance(people, list) else []
    return tuple(sorted({n for n in names if isinstance(n, str) and n}))


def notify(
    rel: Published,
    policy: NotifyPolicy,
    *,
    github: GitHubClient | None,
    registry: RegistryClient,
    webhook: Secret | None,
    repository: str,
    deadline: Any = None,
) -> NotifyResult:
    """Write the Release (create or update) and send the webhook event; collect every failure."""
    result = NotifyResult()
    maintainers: tuple[str, ...] = ()
    try:
        maintainers = registry_check(registry, rel)
    except GatekeeperError as exc:
        result.errors.append(explain(exc))
        return result  # never record an integrity the registry does not serve
    if policy.release:
        if github is None:
            result.release_action = "failed"
            result.errors.append("No GitHub token or repository to write the Release with (set `github-token`)")
        else:
            record = Record(
                rel.name, rel.version, rel.integrity, rel.commit, rel.run_url, maintainers, rel.install_scripts
            )
            section = release_section(rel, policy.mention, record)
            tag = tag_for(policy.tag_format, rel.name, rel.version)
            title = f"{rel.name}@{rel.version}" if "{name}" in policy.tag_format else tag
            try:
                existing = github.release_by_tag(tag)
                if existing is None:
                    written = github.create_release(tag, rel.commit, title, section)
                    result.release_action = "created"
                else:
                    written = github.update_release(
                        existing.id, existing.name or title, merge_body(existing.body, section)
                    )
                    result.release_action = "updated"
                result.release_url = written.html_url
            except GatekeeperError as exc:
                result.release_action = "failed"
                result.errors.append(explain(exc) + " (the Release needs `contents: write` for the job's token)")
    if webhook:
        try:
            post_event(
                webhook, event(rel, result, repository), deadline=deadline, route=getattr(registry, "route", None)
            )
            result.webhook = "sent"
        except GatekeeperError as exc:
            result.webhook = "failed"
            result.errors.append(explain(exc))
    return result


def run_url(env: Mapping[str, str]) -> str:
    """The workflow run's URL (with the attempt when it is a re-run)."""
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    repo, run = env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_RUN_ID", "")
    if not repo or not run.isdigit():
        return ""
    attempt = env.get("GITHUB_RUN_ATTEMPT", "")
    tail = f"/attempts/{attempt}" if attempt.isdigit() and attempt != "1" else ""
    return f"{server}/{repo}/actions/runs/{run}{tail}"
