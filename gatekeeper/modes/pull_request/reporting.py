"""The report of one pull request: JSON, summary, annotations, outputs and the PR comment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from gatekeeper import report
from gatekeeper._internal import actions, pr_comment
from gatekeeper._internal.github import GitHubClient
from gatekeeper.config import Inputs
from gatekeeper.errors import GatekeeperError
from gatekeeper.steps.run import REPORT_PATH


@dataclass
class PullRequestOutcome:
    """The outcome plus what the PR comment and the JSON report say about the pull request."""

    outcome: report.Outcome
    info: dict[str, object] = field(default_factory=dict)


def headline(outcome: report.Outcome, number: int | None) -> str:
    """The first line of the summary and the PR comment."""
    what = f"pull request #{number}" if number else "the pull request"
    d = outcome.decision
    if d.allow:
        return f"## ✅ npm-gatekeeper: {what} changes nothing that runs at install time without approval"
    if d.exit_code == 2:
        return f"## ⚠️ npm-gatekeeper: could not check {what}"
    return f"## 🛑 npm-gatekeeper: {what} changes what runs at install time"


def to_markdown(result: PullRequestOutcome) -> str:
    """The shared summary (report.to_markdown) under this mode's headline, then the commits compared."""
    body = report.to_markdown(result.outcome).split("\n", 1)[1]
    info = result.info
    number = info.get("number")
    lines = [headline(result.outcome, number if isinstance(number, int) else None), body.rstrip("\n"), ""]
    if info.get("merge_base"):
        lines += [
            f"Compared `{str(info['merge_base'])[:12]}` (merge base) with `{str(info['head_sha'])[:12]}` (head) "
            f"from git objects; policy: {info.get('policy')}.",
            "",
        ]
    return "\n".join(lines)


def to_text(result: PullRequestOutcome) -> str:
    """The report as plain text (`--format text`): this mode's headline, the gates, the commits compared."""
    from gatekeeper._internal import terminal
    from gatekeeper.report import text as report_text

    info = result.info
    number = info.get("number")
    what = f"pull request #{number}" if isinstance(number, int) else "the pull request"
    d = result.outcome.decision
    if d.allow:
        title = f"npm-gatekeeper: {what} changes nothing that runs at install time without approval"
    elif d.exit_code == 2:
        title = f"npm-gatekeeper: could not check {what}"
    else:
        title = f"npm-gatekeeper: {what} changes what runs at install time"
    extra = []
    if info.get("merge_base"):
        extra.append(
            f"compared {str(info['merge_base'])[:12]} (merge base) with {str(info['head_sha'])[:12]} (head) "
            f"from git objects; policy: {terminal.safe(str(info.get('policy')))}"
        )
    return report_text.to_text(result.outcome, title=title, extra=extra)


def _report(
    result: PullRequestOutcome,
    inputs: Inputs,
    env: Mapping[str, str],
    workspace: Path,
    report_path: Path | None,
    client: GitHubClient | None,
    out: TextIO,
    err: TextIO,
    fmt: str = "markdown",
) -> None:
    outcome = result.outcome
    in_actions = actions.in_actions(env)
    path = report_path if report_path is not None else (workspace / REPORT_PATH if in_actions else None)
    markdown = to_markdown(result)
    number = result.info.get("number")
    if client is not None and isinstance(number, int):
        try:
            done = pr_comment.upsert_comment(client, number, markdown)
            result.info["comment"] = {"action": done.action, "id": done.id}
        except GatekeeperError as exc:
            # The verdict stands without the comment (a fork's read-only token cannot comment).
            message = f"Could not write the pull-request comment: {exc.plain()}"
            if in_actions:
                actions.command("warning", message, {"title": "npm-gatekeeper"}, out=out)
            err.write("npm-gatekeeper: " + message + "\n")
    shown = ""
    data = report.to_json(outcome)
    data["pull_request"] = result.info
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        shown = str(path.relative_to(workspace)) if path.is_relative_to(workspace) else str(path)
    if in_actions:
        report.annotate(outcome, out=out)
        actions.append_summary(markdown, env)
        actions.set_outputs(report.outputs(outcome, shown), env)
    if outcome.error:
        err.write("npm-gatekeeper: " + outcome.error + "\n")
    out.write(to_text(result) if fmt == "text" else report.render(outcome, fmt, markdown, data))
    out.flush()
