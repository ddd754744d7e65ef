"""Thin adapter for the optional notification webhook: one JSON POST, the URL kept secret.

The URL is a `Secret` (chat webhooks carry their credential in the path): errors name only its
scheme and host. No redirects are followed (a redirect could carry the body elsewhere); a
connection that fails before anything was sent, and 502/503/504, are retried a few times.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from gatekeeper import __version__
from gatekeeper._internal import budget
from gatekeeper._internal.route import Route
from gatekeeper.errors import GatekeeperError
from gatekeeper.secret import Secret

RETRY_STATUSES = frozenset({502, 503, 504})
MAX_RESPONSE_BYTES = 64 * 1024


class WebhookError(GatekeeperError):
    """The webhook did not accept the event."""


def where(url: Secret) -> str:
    """`https://hooks.example.com/…`: enough to recognise the endpoint, nothing of its secret path."""
    parts = urlsplit(url.reveal())
    return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}/…"


def post_event(
    url: Secret,
    event: dict[str, Any],
    *,
    timeout: float = 10.0,
    retries: int = 2,
    deadline: budget.Deadline | None = None,
    route: Route | None = None,
) -> int:
    """POST `event` as JSON; returns the HTTP status (2xx). Anything else raises WebhookError."""
    data = json.dumps(event, sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": f"npm-gatekeeper/{__version__}"}
    limits = budget.Limits(
        "the notification webhook",
        deadline or budget.Deadline(),
        request_seconds=timeout,
        max_bytes=MAX_RESPONSE_BYTES,
        route=route or Route(),
    )
    session = budget.bounded_session(limits)
    last = ""
    for attempt in range(retries + 1):
        try:
            with session.post(url.reveal(), data=data, headers=headers, allow_redirects=False) as resp:
                status = resp.status_code
        except GatekeeperError:  # a budget ran out; its message would name the secret URL
            raise WebhookError(
                f"The notification webhook at {where(url)} did not answer in time (or answered too much)",
                "Check the endpoint",
            ) from None
        except requests.ConnectionError as exc:
            last = f"connection failed ({type(exc).__name__})"
        except requests.RequestException as exc:
            raise WebhookError(
                f"The notification webhook at {where(url)} failed ({type(exc).__name__})",
                "Check the `notify-webhook` secret and the endpoint",
            ) from None
        else:
            if 200 <= status < 300:
                return status
            last = f"HTTP {status}"
            if status not in RETRY_STATUSES:
                break
        if attempt < retries:
            time.sleep(0.5 * (2**attempt))
    raise WebhookError(
        f"The notification webhook at {where(url)} answered {last}",
        "Check the `notify-webhook` secret and the endpoint",
    )
