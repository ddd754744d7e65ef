"""What the runner reads: workflow-command annotations and step outputs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TextIO

from gatekeeper._internal import actions
from gatekeeper.findings import Severity
from gatekeeper.report.outcome import Outcome


def annotate(outcome: Outcome, out: TextIO | None = None) -> None:
    """`::error`/`::warning`/`::notice` for each finding; file/line where known."""
    kinds = {Severity.BLOCK: "error", Severity.WARN: "warning", Severity.INFO: "notice"}
    for f in outcome.findings:
        props: dict[str, object] = {"title": f"npm-gatekeeper: {f.rule}"}
        if f.file:
            props = {"file": f.file, "line": f.line, **props}
        actions.command(kinds[f.severity], f.message, props, out=out)


def published_packages(outcome: Outcome) -> list[dict[str, str]]:
    """`[{"name", "version"}]` of the packages this run published (changesets/action's `published-packages`)."""
    if outcome.plan is not None:
        return [
            {"name": str(p["name"]), "version": str(p["version"])}
            for p in outcome.packages
            if p.get("state") == "published"
        ]
    pkg = outcome.package or {}
    return [{"name": str(pkg["name"]), "version": str(pkg["version"])}] if outcome.published and pkg.get("name") else []


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
        "published-packages": json.dumps(published_packages(outcome), separators=(",", ":")),
        "stage-ids": json.dumps(outcome.publish.get("stage_ids") or {}, separators=(",", ":")),
    }
