"""Plain-text reporter for a terminal (`--format text`): the same facts as the Markdown summary.

No Markdown, no HTML entities, no escapes of our own, no zero-width characters; text that comes
from a package goes through `_internal.terminal.safe` (control and invisible characters made
visible). Generic over findings: any rule id renders, with its fix when its rule is declared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._internal import terminal
from .findings import Finding, Severity
from .rules import declared

if TYPE_CHECKING:
    from .report import Outcome

_ORDER = {Severity.BLOCK: 0, Severity.WARN: 1, Severity.INFO: 2}
#: Each finding's line starts with its severity (semantic-release's plugin routes lines by it).
SEVERITY_PREFIX = {Severity.BLOCK: "BLOCK", Severity.WARN: "WARN ", Severity.INFO: "INFO "}


def finding_lines(findings: list[Finding], *, fixes: bool = True) -> list[str]:
    """`BLOCK rule file:line: message` per finding, blocking first, each followed by its fix (block/warn).

    Package text is made visible by `terminal.safe`, so a message can never start a line of its own."""
    rules = declared() if fixes else {}
    lines: list[str] = []
    for f in sorted(findings, key=lambda f: _ORDER[f.severity]):
        where = f" {terminal.safe(f.file)}" + (f":{f.line}" if f.line else "") if f.file else ""
        lines.append(f"{SEVERITY_PREFIX[f.severity]} {f.rule}{where}: {terminal.safe(f.message)}")
        if f.severity is not Severity.INFO and f.rule in rules:
            lines.append(f"      fix: {rules[f.rule].fix}")
    return lines


def headline(outcome: Outcome) -> str:
    """The decision in one line, as the Markdown summary's heading says it."""
    d = outcome.decision
    pkg = outcome.package or {}
    name = terminal.safe(f"{pkg.get('name')}@{pkg.get('version')}") if pkg.get("name") else "the package"
    if d.allow:
        verb = "published" if outcome.published else "allowed (not published)"
        if outcome.publish.get("dry_run"):
            verb = "allowed (dry run: not uploaded)"
        return f"npm-gatekeeper: {name} {verb}"
    if d.exit_code == 2:
        return f"npm-gatekeeper: could not decide - {name} NOT published"
    return f"npm-gatekeeper: {name} blocked - NOT published"


def to_text(outcome: Outcome, *, title: str | None = None, extra: list[str] | None = None) -> str:
    """The whole report as text, one line per fact: decision, previous release, gates, findings
    (with fixes), then `extra` sections (the release diff's delta).

    An error before any gate ran (nothing to list) gives an empty string: the caller prints the
    one-paragraph error on stderr, and stdout carries no empty gates table.
    """
    if not outcome.gates:
        return ""
    lines = [title or headline(outcome)]
    prev = outcome.previous
    pkg = outcome.package or {}
    if prev:
        shown = f"{prev.get('name', pkg.get('name'))}@{prev.get('version')}"
        lines.append(f"  previous release: {terminal.safe(shown)}")
    if outcome.publish.get("integrity"):
        lines.append(f"  tarball integrity: {outcome.publish['integrity']}")
    for g in outcome.gates:
        counts = ", ".join(f"{n} {s.value}" for s in Severity if (n := sum(1 for f in g.findings if f.severity is s)))
        detail = terminal.safe(g.error) if g.error else counts
        lines.append(f"  gate {g.name}: {g.status}" + (f" ({detail})" if detail else ""))
    lines += finding_lines(outcome.findings)
    for section in extra or []:
        if section.strip():
            lines += ["", section.rstrip("\n")]
    return "\n".join(lines) + "\n"
