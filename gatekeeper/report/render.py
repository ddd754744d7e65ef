"""`--format`: which reporter writes stdout (Markdown, plain text, JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from gatekeeper.report.json import to_json
from gatekeeper.report.outcome import Outcome
from gatekeeper.report.text import to_text


def render(outcome: Outcome, fmt: str, markdown_text: str, data: Mapping[str, object] | None = None) -> str:
    """What stdout gets for `--format`: the Markdown summary, plain text, or the JSON report (`data`)."""
    if fmt == "json":
        return json.dumps(dict(data) if data is not None else to_json(outcome), indent=2) + "\n"
    if fmt == "text":
        return to_text(outcome, extra=outcome.extra_text)
    return markdown_text
