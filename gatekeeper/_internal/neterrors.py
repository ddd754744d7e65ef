"""Human words for network faults: one place that turns a `requests`/urllib3 exception into a reason.

The raw exception text (`HTTPConnectionPool(host=..., port=...): Max retries exceeded with url:
... (Caused by NewConnectionError(...))`) is never shown; `reason(exc)` names what happened
("connection refused", "timed out", "the host name ... could not be resolved", ...), and
`try_again()` gives the advice that fits where we run: a job is re-run, a terminal command is
run again.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Iterator, Mapping


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what it wraps (`args`, `reason`, `__cause__`, `__context__`), depth-first, bounded."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 32:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        nested = [getattr(e, "reason", None), e.__cause__, e.__context__, *getattr(e, "args", ())]
        todo.extend(n for n in nested if isinstance(n, BaseException))


def reason(exc: BaseException, timeout: float | None = None) -> str:
    """A short, human reason for a failed request (no raw library text)."""
    chain = list(_chain(exc))
    names = {type(e).__name__ for e in chain}
    within = f" (no answer within {timeout:g} s)" if timeout else ""
    for e in chain:
        if isinstance(e, socket.gaierror) or type(e).__name__ == "NameResolutionError":
            return "its host name could not be resolved (DNS)"
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            return "its TLS certificate is not trusted here"
    if names & {"SSLError"} or any(isinstance(e, ssl.SSLError) for e in chain):
        return "the TLS handshake failed"
    if names & {"ProxyError"}:
        return "the proxy in HTTPS_PROXY/HTTP_PROXY refused or failed the connection"
    for e in chain:
        if isinstance(e, ConnectionRefusedError):
            return "the connection was refused: nothing listens at that address"
        if isinstance(e, ConnectionResetError):
            return "the connection was reset"
    if names & {"ConnectTimeout", "ConnectTimeoutError"}:
        return f"connecting timed out{within}"
    if names & {"ReadTimeout", "ReadTimeoutError", "Timeout", "TimeoutError"}:
        return f"it stopped answering{within}"
    if names & {"TooManyRedirects"}:
        return "it redirected too many times"
    if names & {"ChunkedEncodingError", "ProtocolError", "IncompleteRead", "RemoteDisconnected"}:
        return "the connection closed in the middle of the answer"
    for e in chain:
        if isinstance(e, OSError) and e.strerror:
            return e.strerror[:1].lower() + e.strerror[1:]
    if names & {"ConnectionError", "NewConnectionError"}:
        return "the connection failed"
    return f"the request failed ({type(exc).__name__})"


def try_again(env: Mapping[str, str] | None = None) -> str:
    """'re-run the job' inside GitHub Actions, 'try again' in a terminal."""
    return "re-run the job" if (os.environ if env is None else env).get("GITHUB_ACTIONS") == "true" else "try again"
