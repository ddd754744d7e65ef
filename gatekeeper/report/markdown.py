"""The Markdown job summary (and `gatekeeper diff --format markdown`'s findings table)."""

from __future__ import annotations

from collections.abc import Mapping

from gatekeeper._internal import markdown
from gatekeeper.findings import Finding, Severity
from gatekeeper.report.outcome import Outcome
from gatekeeper.rules import all_rules

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
    if outcome.plan is not None:
        name = f"the release plan ({len(outcome.packages)} packages)"
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
    lines += plan_table(outcome)
    prev = outcome.previous
    if prev:
        lines += [f"Previous release: `{prev.get('name', pkg.get('name'))}@{prev.get('version')}`", ""]
    if outcome.publish.get("integrity"):
        lines += [f"Tarball integrity: `{outcome.publish['integrity']}`", ""]
    if outcome.publish.get("packed_by"):
        lines += [f"Packed by {markdown.text(str(outcome.publish['packed_by']))}", ""]
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


_STATE = {
    "published": "✅ published",
    "already-published": "✅ already published (same bytes)",
    "staged": "⏸️ staged",
    "allowed": "✅ allowed (not published)",
    "blocked": "🛑 blocked",
    "error": "⚠️ error",
    "failed": "⚠️ failed",
    "not-published": "⏹️ not published (stopped)",
    "left-out": "⏭️ unchanged (version on the registry)",
}


def plan_table(outcome: Outcome) -> list[str]:
    """A release of several packages: the plan in publish order, each package's verdict."""
    if outcome.plan is None:
        return []
    lines = [
        f"### Release plan ({markdown.text(str(outcome.plan.get('source')))}), in publish order",
        "",
        "| # | Package | Folder | Verdict | Blocking rules |",
        "| --- | --- | --- | --- | --- |",
    ]
    for i, p in enumerate(outcome.packages, 1):
        rules = ", ".join(f"`{r}`" for r in p.get("blocking") or [])  # type: ignore[union-attr]
        label = f"{p.get('name')}@{p.get('version')}"
        verdict = _STATE.get(str(p.get("state")), markdown.text(str(p.get("state"))))
        folder = markdown.code(str(p.get("folder")))
        if p.get("packed_by"):
            folder += f", packed by {markdown.text(str(p.get('packed_by')))}"
        lines.append(f"| {i} | {markdown.code(label)} | {folder} | {verdict} | {rules} |")
    left = outcome.plan.get("left_out") or []
    if left:
        shown = "; ".join(f"{markdown.code(str(e.get('folder')))} ({markdown.text(str(e.get('why')))})" for e in left)  # type: ignore[union-attr]
        lines.append("")
        lines.append(f"Left out: {shown}")
    return [*lines, ""]


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
