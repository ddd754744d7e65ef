"""Reporters: JSON report, Markdown job summary, annotations, outputs.

All take the finished `Outcome`; none sees the token (it is never part of an Outcome).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ._internal import actions, markdown
from .decision import Decision, GateResult
from .findings import Finding, Severity
from .rules import all_rules


@dataclass
class Outcome:
    """Everything a run decided, for the reporters."""

    mode: str
    decision: Decision
    gates: list[GateResult]
    package: dict[str, str] | None = None
    previous: dict[str, object] | None = None
    published: bool = False
    #: `npm publish` was stopped while running (cancelled, or past the deadline): it may have uploaded.
    publish_uncertain: bool = False
    publish: dict[str, object] = field(default_factory=dict)
    extra_markdown: list[str] = field(default_factory=list)
    #: The same sections as plain text, for `--format text` (parallel to extra_markdown).
    extra_text: list[str] = field(default_factory=list)
    error: str | None = None
    #: Only clearable findings block, waiting for the review of `review.environment` (check mode).
    needs_review: bool = False
    #: The release delta (DiffResult.to_json) when the diff gate computed one.
    delta: dict[str, object] | None = None
    #: After a publish: the notify step's result (NotifyResult.to_json), and whether it all worked.
    notify: dict[str, object] | None = None
    notified: bool = False
    #: Watch mode: the versions the gate did not publish (`name@version`).
    unexpected: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for g in self.gates for f in g.findings]


def to_json(outcome: Outcome) -> dict[str, object]:
    """The report shape: decision, package, previous, gates, findings (+ published, error)."""
    return {
        "decision": outcome.decision.label,
        "exit_code": outcome.decision.exit_code,
        "mode": outcome.mode,
        "package": outcome.package,
        "previous": outcome.previous,
        "gates": {g.name: g.status for g in outcome.gates},
        "findings": [dict(f.to_json(), gate=g.name) for g in outcome.gates for f in g.findings],
        "published": "unknown" if outcome.publish_uncertain else outcome.published,
        "publish": outcome.publish,
        "error": outcome.error,
        "needs_review": outcome.needs_review,
        "notified": outcome.notified,
        "notify": outcome.notify,
        "delta": outcome.delta,
        "unexpected": outcome.unexpected,
    }


def write_json(outcome: Outcome, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(outcome), indent=2, sort_keys=False) + "\n", encoding="utf-8")


_ICON = {"pass": "✅ pass", "fail": "❌ fail", "skipped": "⏭️ skipped", "error": "⚠️ error"}
_SEV = {Severity.BLOCK: "🛑 block", Severity.WARN: "⚠️ warn", Severity.INFO: "💬 info"}


def findings_table(findings: list[Finding], severity: Mapping[Severity, str]) -> list[str]:
    """The Markdown `### Findings` table, blocking findings first, `severity` naming each level; ends blank."""
    lines = ["### Findings", "", "| Severity | Rule | Where | Message |", "| --- | --- | --- | --- |"]
    order = {Severity.BLOCK: 0, Severity.WARN: 1, Severity.INFO: 2}
    for f in sorted(findings, key=lambda f: order[f.severity]):
        where = markdown.code(f.file) + (f":{f.line}" if f.line else "") if f.file else ""
        lines.append(f"| {severity[f.severity]} | `{f.rule}` | {where} | {markdown.text(f.message)} |")
    lines.append("")
    return lines


def to_markdown(outcome: Outcome) -> str:
    """The job summary: decision first, a table of gates, then findings with evidence."""
    d = outcome.decision
    pkg = outcome.package or {}
    name = f"`{pkg.get('name')}@{pkg.get('version')}`" if pkg.get("name") else "the package"
    if outcome.mode == "watch":
        head = (
            "## ✅ npm-gatekeeper watch: every release went through the gate"
            if d.exit_code == 0
            else (
                "## 🛑 npm-gatekeeper watch: releases the gate did not publish"
                if d.exit_code == 1
                else "## ⚠️ npm-gatekeeper watch: could not check every release"
            )
        )
    elif d.allow:
        verb = (
            "published"
            if outcome.published
            else ("allowed (not published: check mode)" if outcome.mode == "check" else "allowed")
        )
        if outcome.publish.get("staged"):
            verb = "staged — waiting for a maintainer's approval"
        if outcome.publish.get("dry_run"):
            verb = "allowed (dry run: not uploaded)"
        head = f"## ✅ npm-gatekeeper: {name} {verb}"
    elif outcome.publish_uncertain:
        head = f"## ⚠️ npm-gatekeeper: stopped during the upload — {name} possibly published, check the registry"
    elif d.pending_review:
        head = f"## 👀 npm-gatekeeper: {name} waits for review — only findings a reviewed publish job may clear block"
    elif d.exit_code == 2:
        head = f"## ⚠️ npm-gatekeeper: could not decide — {name} NOT published"
    else:
        head = f"## 🛑 npm-gatekeeper: {name} blocked — NOT published"
    lines = [head, ""]
    if outcome.error:
        lines += [f"> {markdown.text(outcome.error)}", ""]
    prev = outcome.previous
    if prev:
        lines += [f"Previous release: `{prev.get('name', pkg.get('name'))}@{prev.get('version')}`", ""]
    if outcome.publish.get("integrity"):
        lines += [f"Tarball integrity: `{outcome.publish['integrity']}`", ""]
    lines += _publish_lines(outcome.publish)
    if outcome.notify is not None:
        n = outcome.notify
        where = f" ({n['release_url']})" if n.get("release_url") else ""
        lines += [
            f"Notified: {'✅' if outcome.notified else '❌'} Release {n.get('release')}{where}; "
            f"webhook {n.get('webhook')}",
            "",
        ]
    if outcome.gates:  # an error before any gate ran: the error above says it all, no empty table
        lines += ["| Gate | Result | Findings |", "| --- | --- | --- |"]
        for g in outcome.gates:
            counts = {s: sum(1 for f in g.findings if f.severity is s) for s in Severity}
            text = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "—"
            if g.error:
                text = markdown.text(g.error)
            lines.append(f"| {g.name} | {_ICON.get(g.status, g.status)} | {text} |")
        lines.append("")
    findings = outcome.findings
    if findings:
        rules = all_rules()
        lines += findings_table(findings, _SEV)
        fixes = {f.rule for f in findings if f.severity is not Severity.INFO and f.rule in rules}
        if fixes:
            lines += ["<details><summary>How to fix</summary>", ""]
            lines += [f"- `{r}`: {rules[r].fix}" for r in sorted(fixes)]
            lines += ["", "</details>", ""]
    lines += [section for section in outcome.extra_markdown if section]
    return "\n".join(lines) + "\n"


def _publish_lines(publish: Mapping[str, object]) -> list[str]:
    """Which credential published, provenance, and a staged release's id and approval commands."""
    lines: list[str] = []
    cred = publish.get("credential")
    if isinstance(cred, dict) and cred.get("type") == "oidc":
        claims = cred.get("claims") if isinstance(cred.get("claims"), dict) else {}
        shown = ", ".join(f"{markdown.text(str(k))} {markdown.code(str(v))}" for k, v in claims.items())
        lines.append(f"Credential: OIDC trusted publishing (short-lived token; claims matched: {shown})")
    elif isinstance(cred, dict) and cred.get("type") == "token":
        lines.append(f"Credential: {markdown.text(str(cred.get('token_type')))}")
    if "provenance" in publish:
        state = "on (`--provenance`)" if publish.get("provenance") else "off"
        lines.append(f"Provenance: {state} — {markdown.text(str(publish.get('provenance_reason', '')))}")
    if publish.get("stage_id"):
        lines.append(
            f"Staged with id {markdown.code(str(publish['stage_id']))}: nothing is public until a maintainer approves "
            f"it with 2FA: {markdown.code(str(publish.get('approve')))} (or reject: "
            f"{markdown.code(str(publish.get('reject')))})"
            + (f", or on npmjs.com: {markdown.text(str(publish['approve_url']))}" if publish.get("approve_url") else "")
        )
    return [line for pair in zip(lines, [""] * len(lines), strict=True) for line in pair]


def render(outcome: Outcome, fmt: str, markdown_text: str, data: Mapping[str, object] | None = None) -> str:
    """What stdout gets for `--format`: the Markdown summary, plain text, or the JSON report (`data`)."""
    if fmt == "json":
        return json.dumps(dict(data) if data is not None else to_json(outcome), indent=2) + "\n"
    if fmt == "text":
        return to_text(outcome)
    return markdown_text


def annotate(outcome: Outcome, out: TextIO | None = None) -> None:
    """`::error`/`::warning`/`::notice` for each finding; file/line where known."""
    kinds = {Severity.BLOCK: "error", Severity.WARN: "warning", Severity.INFO: "notice"}
    for f in outcome.findings:
        props: dict[str, object] = {"title": f"npm-gatekeeper: {f.rule}"}
        if f.file:
            props = {"file": f.file, "line": f.line, **props}
        actions.command(kinds[f.severity], f.message, props, out=out)


def outputs(outcome: Outcome, report_path: str) -> Mapping[str, str]:
    pkg = outcome.package or {}
    prev = outcome.previous or {}
    return {
        "decision": outcome.decision.label,
        "published": "unknown" if outcome.publish_uncertain else ("true" if outcome.published else "false"),
        "name": str(pkg.get("name", "")),
        "version": str(pkg.get("version", "")),
        "previous-version": str(prev.get("version", "")),
        "report": report_path,
        "integrity": str(outcome.publish.get("integrity", "")),
        "needs-review": "true" if outcome.needs_review else "false",
        "stage-id": str(outcome.publish.get("stage_id", "")),
        "notified": "true" if outcome.notified else "false",
        "unexpected": " ".join(outcome.unexpected),
    }


def to_text(outcome: Outcome) -> str:
    """Plain text (no Markdown): what a terminal or semantic-release's logger shows (`report_text`)."""
    from .report_text import to_text as text

    return text(outcome, extra=outcome.extra_text)
