"""The gates of publish/check mode. Each module: NAME, rules, `check(ctx) -> list[Finding]`."""

from __future__ import annotations

from dataclasses import dataclass


class Skip(Exception):
    """Raised by a gate that does not apply to this run (status `skipped`)."""


@dataclass(frozen=True)
class ReportExtras:
    """What a gate's optional `report_extras(ctx)` adds to the report: the previous release (None: none to
    name) and its section as Markdown (the diff gate: the release delta; the policy gate: the policy diff)."""

    previous: dict[str, object] | None
    markdown: str
    #: The same section as plain text (`--format text`).
    text: str = ""
