"""The ONE pull-request comment of npm-gatekeeper, created once and then updated in place.

The comment is found by a hidden marker at the start of its body. Comments by a bot account (the
`github-actions[bot]` of GITHUB_TOKEN, or an app) win over a user's comment that merely quotes the
marker, so nobody can redirect the update to a comment of their own choosing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .github import GitHubClient

MARKER = "<!-- npm-gatekeeper -->"
#: GitHub rejects issue comments longer than 65536 characters.
MAX_BODY = 65_000
TRUNCATED = "\n\n_(comment truncated: the job summary and the JSON report have everything)_\n"


@dataclass(frozen=True)
class CommentResult:
    """What happened to the comment: `created` or `updated`, with its id and URL."""

    action: str
    id: int
    url: str


def comment_body(markdown: str) -> str:
    """The marker, then the Markdown, cut to what GitHub accepts."""
    body = f"{MARKER}\n{markdown}"
    if len(body) > MAX_BODY:
        body = body[: MAX_BODY - len(TRUNCATED)] + TRUNCATED
    return body


def _is_bot(comment: Any) -> bool:
    user = getattr(comment, "user", None)
    return getattr(user, "type", "") == "Bot"


def find_comment(comments: list[Any]) -> Any | None:
    """The comment to update: the oldest marked one by a bot, else the oldest marked one, else None."""
    marked = [c for c in comments if isinstance(c.body, str) and c.body.startswith(MARKER)]
    bots = [c for c in marked if _is_bot(c)]
    return (bots or marked or [None])[0]


def upsert_comment(client: GitHubClient, number: int, markdown: str) -> CommentResult:
    """Create the comment on PR `number`, or edit the existing one; raises GitHubError on API failures."""
    body = comment_body(markdown)

    def run() -> CommentResult:
        issue = client.repo.get_issue(number)
        existing = find_comment(list(issue.get_comments()))
        if existing is None:
            created = issue.create_comment(body)
            return CommentResult("created", int(created.id), str(created.html_url or created.url))
        existing.edit(body)
        return CommentResult("updated", int(existing.id), str(existing.html_url or existing.url))

    return client._call(f"writing the pull-request comment on #{number}", run)
