"""The ONE pull-request comment of npm-gatekeeper, created once and then updated in place.

The comment is found by a hidden marker at the start of its body, and only among comments this
token's account could have written: a bot's (the `github-actions[bot]` of GITHUB_TOKEN, or an app),
or, for a personal token, the token's own user. A PR author who posts the marker cannot make the
verdict appear under their name (and edit it later).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from github import GithubException

from gatekeeper._internal.github import GitHubClient

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


def find_comment(comments: list[Any], viewer: str | None = None) -> Any | None:
    """The oldest marked comment by a bot (or by `viewer`, the token's own user), else None."""
    for c in comments:
        user = getattr(c, "user", None)
        if not isinstance(c.body, str) or not c.body.startswith(MARKER) or user is None:
            continue
        if user.type == "Bot" or (viewer is not None and user.login == viewer):
            return c
    return None


def _viewer(client: GitHubClient) -> str | None:
    """The token's user, or None (GITHUB_TOKEN and app tokens may not read /user)."""
    try:
        return str(client.raw.get_user().login)
    except GithubException:
        return None


def upsert_comment(client: GitHubClient, number: int, markdown: str) -> CommentResult:
    """Create the comment on PR `number`, or edit the existing one; raises GitHubError on API failures."""
    body = comment_body(markdown)

    def run() -> CommentResult:
        issue = client.repo.get_issue(number)
        comments = list(issue.get_comments())
        existing = find_comment(comments)
        if existing is None and any(isinstance(c.body, str) and c.body.startswith(MARKER) for c in comments):
            existing = find_comment(comments, _viewer(client))
        if existing is None:
            created = issue.create_comment(body)
            return CommentResult("created", int(created.id), str(created.html_url or created.url))
        existing.edit(body)
        return CommentResult("updated", int(existing.id), str(existing.html_url or existing.url))

    return client.call(f"writing the pull-request comment on #{number}", run)
