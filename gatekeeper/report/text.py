"""Plain-text reporter for a terminal (`--format text`): the same facts as the Markdown summary.

No Markdown, no HTML entities, no escapes of our own, no zero-width characters; text that comes
from a package goes through `_internal.terminal.safe` (control and invisible characters made
visible). Generic over findings: any rule id renders, with its fix when its rule is declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from gatekeeper._internal import terminal
from gatekeeper.findings import Finding, Severity
from gatekeeper.rules import all_rules

if TYPE_CHECKING:
    from gatekeeper.report.outcome import Outcome

_ORDER = {Severity.BLOCK: 0, Severity.WARN: 1, Severity.INFO: 2}
#: Each finding's line starts with its severity (semantic-release's plugin routes lines by it).
SEVERITY_PREFIX = {Severity.BLOCK: "BLOCK", Severity.WARN: "WARN ", Severity.INFO: "INFO "}


def finding_lines(
    findings: list[Finding], *, fixes: bool = True, fix_overrides: Mapping[str, str] | None = None
) -> list[str]:
    """`BLOCK rule file:line: message` per finding, blocking first, a rule's findings together, its fix
    (block/warn) once after them (bcrypt's 10 `install-script-code-changed` findings: one fix line).
    `fix_overrides`: rule id -> the fix to show instead of the rule's own (a mode where it would be untrue).

    Package text is made visible by `terminal.safe`, so a message can never start a line of its own."""
    rules = all_rules() if fixes else {}
    first = {}
    for i, f in enumerate(findings):
        first.setdefault((_ORDER[f.severity], f.rule), i)
    ordered = sorted(findings, key=lambda f: (_ORDER[f.severity], first[(_ORDER[f.severity], f.rule)]))
    lines: list[str] = []
    fixed: set[str] = set()
    for i, f in enumerate(ordered):
        where = f" {terminal.safe(f.file)}" + (f":{f.line}" if f.line else "") if f.file else ""
        lines.append(f"{SEVERITY_PREFIX[f.severity]} {f.rule}{where}: {terminal.safe(f.message)}")
        last_of_run = i + 1 == len(ordered) or (ordered[i + 1].rule, ordered[i + 1].severity) != (f.rule, f.severity)
        if last_of_run and f.severity is not Severity.INFO and f.rule in rules and f.rule not in fixed:
            fixed.add(f.rule)
            lines.append(f"      fix: {(fix_overrides or {}).get(f.rule, rules[f.rule].fix)}")
    return lines


def headline(outcome: Outcome) -> str:
    """The decision in one line, as the Markdown summary's heading says it (same cases, same facts)."""
    d = outcome.decision
    pkg = outcome.package or {}
    name = terminal.safe(f"{pkg.get('name')}@{pkg.get('version')}") if pkg.get("name") else "the package"
    if outcome.plan is not None:
        name = f"the release plan ({len(outcome.packages)} packages)"
    if outcome.mode == "watch":
        if d.exit_code == 0:
            return "npm-gatekeeper watch: every release went through the gate"
        if d.exit_code == 1:
            return "npm-gatekeeper watch: releases the gate did not publish"
        return "npm-gatekeeper watch: could not check every release"
    if d.allow:
        if outcome.published:
            verb = "published"
        else:
            verb = "allowed (not published: check mode)" if outcome.mode == "check" else "allowed (not published)"
        if outcome.publish.get("staged"):
            verb = "staged - waiting for a maintainer's approval (not public yet)"
        if outcome.publish.get("dry_run"):
            verb = "allowed (dry run: not uploaded)"
        return f"npm-gatekeeper: {name} {verb}"
    if outcome.publish_uncertain:
        return f"npm-gatekeeper: stopped during the upload - {name} possibly published, check the registry"
    if d.pending_review:
        return f"npm-gatekeeper: {name} waits for review - only findings a reviewed publish job may clear block"
    if d.exit_code == 2:
        return f"npm-gatekeeper: could not decide - {name} NOT published"
    return f"npm-gatekeeper: {name} blocked - NOT published"


def publish_lines(publish: Mapping[str, object]) -> list[str]:
    """Which credential published, provenance, and a staged release's id and approval commands
    (the facts of the Markdown summary's publish lines, one per line, values made visible)."""
    lines: list[str] = []
    cred = publish.get("credential")
    if isinstance(cred, dict) and cred.get("type") == "oidc":
        claims = cred.get("claims") if isinstance(cred.get("claims"), dict) else {}
        shown = ", ".join(f"{k} {v}" for k, v in claims.items())
        lines.append(
            terminal.safe(f"  credential: OIDC trusted publishing (short-lived token; claims matched: {shown})")
        )
    elif isinstance(cred, dict) and cred.get("type") == "token":
        lines.append(terminal.safe(f"  credential: {cred.get('token_type')}"))
    if "provenance" in publish:
        state = "on (--provenance)" if publish.get("provenance") else "off"
        lines.append(terminal.safe(f"  provenance: {state} - {publish.get('provenance_reason', '')}"))
    if publish.get("stage_id"):
        lines.append(
            terminal.safe(
                f"  staged with id {publish['stage_id']}: nothing is public until a maintainer approves it with 2FA"
            )
        )
        lines.append(terminal.safe(f"    approve: {publish.get('approve')}"))
        lines.append(terminal.safe(f"    reject:  {publish.get('reject')}"))
        if publish.get("approve_url"):
            lines.append(terminal.safe(f"    or on npmjs.com: {publish['approve_url']}"))
    return lines


def notify_line(outcome: Outcome) -> list[str]:
    """After a publish: whether the Release and the webhook were written."""
    n = outcome.notify
    if n is None:
        return []
    where = f" ({n['release_url']})" if n.get("release_url") else ""
    state = "ok" if outcome.notified else "FAILED"
    return [terminal.safe(f"  notified: {state} - Release {n.get('release')}{where}; webhook {n.get('webhook')}")]


def plan_lines(outcome: Outcome) -> list[str]:
    """A release of several packages: the plan in publish order, one line per package with its verdict."""
    if outcome.plan is None:
        return []
    lines = [f"  release plan ({terminal.safe(str(outcome.plan.get('source')))}), in publish order:"]
    for i, p in enumerate(outcome.packages, 1):
        blocking = p.get("blocking") or []
        why = f" ({', '.join(str(r) for r in blocking)})" if blocking else ""  # type: ignore[union-attr]
        where = f"{p.get('folder')}, packed by {p.get('packed_by')}" if p.get("packed_by") else p.get("folder")
        lines.append(terminal.safe(f"    {i}. {p.get('name')}@{p.get('version')} [{where}]: {p.get('state')}{why}"))
    for e in outcome.plan.get("left_out") or []:  # type: ignore[union-attr]
        lines.append(terminal.safe(f"    left out: {e.get('folder')} ({e.get('why')})"))
    return lines


def _error_lines(outcome: Outcome) -> list[str]:
    """The run's error when the gate lines do not already say it (a publish or notify failure)."""
    if not outcome.error:
        return []
    errors = [g for g in outcome.gates if g.status == "error" and g.error]
    shown = {" ".join(f"[{g.name}] {g.error}" for g in errors), *(g.error for g in errors)}
    if outcome.error in shown:
        return []
    return [f"  error: {terminal.safe(outcome.error)}"]


def to_text(outcome: Outcome, *, title: str | None = None, extra: list[str] | None = None) -> str:
    """The whole report as text, one line per fact: decision, previous release, gates, findings
    (with fixes), then `extra` sections (the release diff's delta).

    An error before any gate ran (nothing to list) gives an empty string: the caller prints the
    one-paragraph error on stderr, and stdout carries no empty gates table.
    """
    if not outcome.gates:
        return ""
    lines = [title or headline(outcome), *_error_lines(outcome), *plan_lines(outcome)]
    prev = outcome.previous
    pkg = outcome.package or {}
    if prev:
        shown = f"{prev.get('name', pkg.get('name'))}@{prev.get('version')}"
        lines.append(f"  previous release: {terminal.safe(shown)}")
    if outcome.publish.get("integrity"):
        lines.append(f"  tarball integrity: {outcome.publish['integrity']}")
    if outcome.publish.get("packed_by"):
        lines.append(f"  packed by {terminal.safe(str(outcome.publish['packed_by']))}")
    lines += publish_lines(outcome.publish)
    lines += notify_line(outcome)
    for g in outcome.gates:
        counts = ", ".join(f"{n} {s.value}" for s in Severity if (n := sum(1 for f in g.findings if f.severity is s)))
        detail = terminal.safe(g.error) if g.error else counts
        lines.append(f"  gate {g.name}: {g.status}" + (f" ({detail})" if detail else ""))
    lines += finding_lines(outcome.findings)
    for section in extra or []:
        if section.strip():
            lines += ["", section.rstrip("\n")]
    return "\n".join(lines) + "\n"
