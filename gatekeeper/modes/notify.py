"""`gatekeeper notify --from-report FILE`: retired (issue 21); it refuses, exit 2, saying what replaced it.

It wrote the gate's release record (which `mode: watch` trusts as "the gate published this") and the webhook
event from a JSON report read from the workspace: any step or semantic-release plugin of the job could write
that file. Notify now happens only in the gate run that published, from its own outcome (publish mode; with
semantic-release, the `publish` job of examples/semantic-release/release.yml)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

RETIRED = (
    "npm-gatekeeper: `gatekeeper notify --from-report` was removed: it wrote the release record (which "
    "`mode: watch` trusts) and the webhook event from a report file in the workspace, which any step or plugin "
    "of the job can write. The gate run that publishes notifies from its own outcome: publish mode of the Action "
    "(with semantic-release, the `publish` job of examples/semantic-release/release.yml, see "
    "integrations/semantic-release/README.md). Remove this step. Nothing was notified.\n"
)


def run_from_report(inputs: Any, env: Mapping[str, str], report_file: Any, out: TextIO, err: TextIO) -> int:
    """Refuse (exit 2): see the module docstring. Reads nothing."""
    err.write(RETIRED)
    return 2
