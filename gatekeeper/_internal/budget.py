"""Bounded network calls: one run deadline, per-call and per-request wall-clock budgets, byte budgets,
request caps for paginators, and credentials sent only to the origin they belong to.

Everything that talks HTTP goes through a `requests` session with a `BoundedAdapter` mounted
(`bounded_session(...)`; PyGithub gets the same adapter, see `github.py`). Per request the adapter

- drops `Authorization` unless the URL's origin (scheme, host, port) is the allowed one (a redirect,
  a `dist.tarball` elsewhere, an `http://` downgrade or a `Link: next` to another port gets none);
- gives the request min(per-request budget, the current call's budget, the run's deadline) of wall
  time: socket timeouts below that, plus a watchdog that shuts the socket down when it runs out,
  so a server that trickles bytes (headers or body) cannot outlive it; the body is read in chunks
  with a deadline check per chunk;
- reads at most `max_bytes` of the *decoded* body (a gzip bomb is cut off after the cap; urllib3
  >= 2.6 decompresses chunk by chunk with a bound);
- counts requests against the current call's cap (`max_requests`), which bounds every paginator
  and retry loop inside one call.

A call scope (`with call_scope("reading checks", seconds=..., max_requests=..., max_bytes=...)`)
sets the budget of one logical call (e.g. a paginated list); calls nest, the tightest wins.
Exceeding any budget raises `BudgetExceeded` (a `GatekeeperError`: exit 2, nothing published)
naming what did not answer.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from gatekeeper._internal import neterrors
from gatekeeper._internal.deadline import Deadline  # callers name it budget.Deadline
from gatekeeper._internal.route import Route
from gatekeeper.errors import GatekeeperError

#: Default seconds of one run (the `timeout` input's default).
DEFAULT_RUN_SECONDS = 600
#: Default wall-clock budget of one HTTP request (and of one logical call).
DEFAULT_REQUEST_SECONDS = 30.0
DEFAULT_CALL_SECONDS = 120.0
#: Requests one logical call may make (pages + retries + redirects).
DEFAULT_MAX_REQUESTS = 100
#: Decoded bytes of one answer when the caller names no other cap.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
CONNECT_SECONDS = 10.0
CHUNK = 64 * 1024
MAX_REDIRECTS = 5


class BudgetExceeded(GatekeeperError):
    """A deadline, a byte budget or a request cap ran out: the run cannot decide (exit 2)."""


@dataclass
class _Scope:
    what: str
    at: float | None
    max_requests: int | None
    max_bytes: int | None
    request_seconds: float | None = None
    requests: int = 0
    parent: _Scope | None = None

    def remaining(self) -> float:
        own = float("inf") if self.at is None else self.at - time.monotonic()
        return min(own, self.parent.remaining()) if self.parent else own


_SCOPE: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("gatekeeper_budget_scope", default=None)


@contextlib.contextmanager
def call_scope(
    what: str,
    *,
    seconds: float | None = None,
    max_requests: int | None = None,
    max_bytes: int | None = None,
    request_seconds: float | None = None,
) -> Iterator[None]:
    """The budget of one logical call (all its pages, retries and redirects).

    `seconds`: wall time of the whole call; `max_requests`: requests it may make; `max_bytes`: decoded
    bytes per answer (instead of the session's default); `request_seconds`: wall time per request
    (instead of the session's default, e.g. for a large download). The run's deadline still bounds all."""
    parent = _SCOPE.get()
    at = None if seconds is None else time.monotonic() + seconds
    scope = _Scope(what, at, max_requests, max_bytes, request_seconds, parent=parent)
    token = _SCOPE.set(scope)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def _current_limits() -> tuple[str, float, int | None, float | None]:
    """(what, seconds left, byte cap, per-request seconds) of the scopes; counts one request in each."""
    scope = _SCOPE.get()
    what, left, cap, per_request = "", float("inf"), None, None
    s = scope
    while s is not None:
        s.requests += 1
        if s.max_requests is not None and s.requests > s.max_requests:
            raise BudgetExceeded(
                f"{s.what} did not finish: more than {s.max_requests} requests (an endless pagination or redirect "
                "loop?)",
                "Check the service's answers (a proxy in between?), then re-run the job",
            )
        if s.max_bytes is not None and cap is None:
            cap = s.max_bytes
        if s.request_seconds is not None and per_request is None:
            per_request = s.request_seconds
        if not what:
            what = s.what
        s = s.parent
    if scope is not None:
        left = scope.remaining()
    return what, left, cap, per_request


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def safe_url(url: str) -> str:
    """A URL without userinfo or query (for messages)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


# --------------------------------------------------------------------------------------------------
# socket registry for the watchdog: connections record their socket for the running request

_ACTIVE = threading.local()


def _note_socket(conn: HTTPConnection) -> None:
    bag = getattr(_ACTIVE, "bag", None)
    sock = getattr(conn, "sock", None)
    if bag is not None and sock is not None:
        bag.append(sock)


class _WatchedHTTPConnection(HTTPConnection):
    """Notes the socket of each request and response (the HTTPS connection inherits the same)."""

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        _note_socket(self)
        return super().getresponse(*args, **kwargs)

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().request(*args, **kwargs)
        _note_socket(self)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _Watchdog:
    """Shuts down the sockets a request uses when its wall-clock budget runs out (pausable for waits)."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self.sockets: list[socket.socket] = []
        self._left = max(seconds, 0.0)
        self._since = time.monotonic()
        self._timer: threading.Timer | None = None

    def _fire(self) -> None:
        self.fired = True
        for sock in list(self.sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _arm(self) -> None:
        self._since = time.monotonic()
        self._timer = threading.Timer(self._left, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        return self._left - (time.monotonic() - self._since) if self._timer is not None else self._left

    @property
    def expired(self) -> bool:
        return self.fired or self.left() <= 0

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Stop the clock (a retry's wait is bounded by the call and the run deadline instead)."""
        if self._timer is not None:
            self._timer.cancel()
            self._left = self.left()
            self._timer = None
        try:
            yield
        finally:
            self.sockets.clear()  # a retry opens or reuses a connection and notes it again
            self._arm()

    def __enter__(self) -> _Watchdog:
        _ACTIVE.bag = self.sockets
        _ACTIVE.dog = self
        self._arm()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        _ACTIVE.bag = None
        _ACTIVE.dog = None


def wait_before_retry(deadline: Deadline, seconds: float, service: str, why: str) -> None:
    """Sleep `seconds` before a retry inside a request (e.g. urllib3 Retry), or raise `BudgetExceeded`
    when the wait would outlive the current call's budget or the run's deadline."""
    scope = _SCOPE.get()
    left = min(deadline.remaining(), scope.remaining() if scope is not None else float("inf"))
    if seconds >= left:
        raise BudgetExceeded(
            f"{service} asked to wait {seconds:.0f} s before retrying ({why}), but only {max(left, 0):.0f} s of "
            f"{deadline.describe()} were left",
            neterrors.try_again().capitalize() + " later (rate limit or outage), or raise the `timeout` input",
        )
    dog = getattr(_ACTIVE, "dog", None)
    if dog is None:
        time.sleep(max(seconds, 0.0))
        return
    with dog.paused():
        time.sleep(max(seconds, 0.0))


@dataclass
class Limits:
    """What one session may spend per request."""

    service: str  # "the npm registry", "GitHub's API"
    deadline: Deadline = field(default_factory=Deadline)
    request_seconds: float = DEFAULT_REQUEST_SECONDS
    max_bytes: int = DEFAULT_MAX_BYTES
    allowed_origin: tuple[str, str, int] | None = None  # where Authorization may go
    #: The proxy and CA bundle the policy names (issue 21; direct and the default roots when none).
    route: Route = field(default_factory=Route)


class BoundedAdapter(HTTPAdapter):
    """An HTTPAdapter enforcing `Limits` per request (see the module docstring)."""

    def __init__(self, limits: Limits, **kwargs: Any) -> None:
        self.limits = limits
        self._ssl: ssl.SSLContext | None = None
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(*args, **kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None, **kwargs: Any) -> Any:
        lim = self.limits
        url = request.url or ""
        if "Authorization" in request.headers and (lim.allowed_origin is None or origin(url) != lim.allowed_origin):
            del request.headers["Authorization"]  # credentials only to their own origin
        proxy = lim.route.proxy_for(url)
        if proxy and "Authorization" in request.headers and urlsplit(url).scheme != "https":
            # through the proxy, plain http would hand it the credential in clear: only CONNECT tunnels carry one
            raise GatekeeperError(
                f"Refusing to send {lim.service}'s credential to {safe_url(url)} through the proxy "
                f"`network.https-proxy` over plain http (the proxy would read it)",
                "Use an https:// URL for that service, or list its host in `network.no-proxy`",
            )
        kwargs["proxies"] = {"http": proxy, "https": proxy} if proxy else {}
        kwargs["verify"] = True  # never off; the policy's CA bundle, if any, is the pool's SSL context
        what, scope_left, scope_cap, per_request = _current_limits()
        cap = scope_cap if scope_cap is not None else lim.max_bytes
        target = f"{request.method} {safe_url(url)}"
        per_request = per_request if per_request is not None else lim.request_seconds
        left = min(per_request, scope_left, lim.deadline.remaining())
        if left <= 0:
            raise self._late(target, what, 0.0)
        with _Watchdog(left) as dog:
            try:
                resp = super().send(request, stream=True, timeout=(min(CONNECT_SECONDS, left), left), **kwargs)
                if dog.expired:
                    raise self._late(target, what, left)
                resp._content = self._read(resp, cap, left, target, what, dog)
                resp._content_consumed = True
            except (requests.RequestException, OSError) as exc:
                if dog.expired:
                    raise self._late(target, what, left) from None
                raise exc
        return resp

    def _ssl_context(self) -> ssl.SSLContext | None:
        """The policy's CA bundle as the only roots (None: requests' defaults), built once, from memory."""
        if self._ssl is None and self.limits.route.ca_pem is not None:
            self._ssl = ssl.create_default_context(cadata=self.limits.route.ca_pem.decode("ascii", "replace"))
        return self._ssl

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        context = self._ssl_context()
        if context is not None and verify is not False:
            pool_kwargs.pop("ca_certs", None)
            pool_kwargs.pop("ca_cert_dir", None)
            pool_kwargs["ssl_context"] = context
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)
        if self._ssl_context() is not None and url.lower().startswith("https"):
            conn.ca_certs = conn.ca_cert_dir = None  # exactly the policy's bundle, not certifi's added to it

    def _read(self, resp: requests.Response, cap: int, left: float, target: str, what: str, dog: _Watchdog) -> bytes:
        raw = resp.raw
        chunks: list[bytes] = []
        total = 0
        try:
            while True:
                if dog.expired:
                    raise self._late(target, what, left)
                try:
                    chunk = raw.read(CHUNK, decode_content=True)
                except Exception as exc:  # urllib3 errors (ProtocolError, DecodeError, ReadTimeout...)
                    if dog.expired:
                        raise self._late(target, what, left) from None
                    raise requests.exceptions.ChunkedEncodingError(f"reading the answer failed ({exc})") from None
                if not chunk:
                    break
                total += len(chunk)
                if total > cap:
                    raise BudgetExceeded(
                        f"{self.limits.service} answered {target} with more than {cap} bytes (decoded)"
                        + (f" while {what}" if what and what != target else ""),
                        "A registry or API answer this large is refused; raise the limit in the policy "
                        "(`network:` / `diff.limits`) only if the size is expected",
                    )
                chunks.append(chunk)
        finally:
            resp.close()
        return b"".join(chunks)

    def _late(self, target: str, what: str, seconds: float) -> BudgetExceeded:
        lim = self.limits
        during = f" while {what}" if what and what != target else ""
        if lim.deadline.expired:
            why = f"{lim.deadline.describe()} ran out"
        else:
            why = f"no complete answer within {seconds:.1f} s"
        return BudgetExceeded(
            f"{lim.service} did not answer {target}{during}: {why}",
            "Check that the service is up and reachable (and not throttling), or raise the `timeout` input, then "
            + neterrors.try_again(),
        )


def bounded_session(limits: Limits, *, max_retries: Any = 0) -> requests.Session:
    """A requests session whose every request is bounded by `limits` (http and https)."""
    session = requests.Session()
    # No proxy, CA bundle or .netrc from the environment: a step before the gate could set HTTPS_PROXY and
    # REQUESTS_CA_BUNDLE to read every request, the credential's included (issue 21).
    session.trust_env = False
    session.max_redirects = MAX_REDIRECTS
    session.headers["Accept-Encoding"] = "gzip, deflate"
    adapter = BoundedAdapter(limits, max_retries=max_retries)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def sleep_within(deadline: Deadline, seconds: float) -> bool:
    """Sleep `seconds` unless the deadline would pass first (then return False without sleeping)."""
    if seconds >= deadline.remaining():
        return False
    time.sleep(max(0.0, seconds))
    return True
