"""A fault-injecting reverse proxy on 127.0.0.1, in front of a real part (Verdaccio, the GitHub stand-in).

    proxy = FaultProxy(verdaccio.url).start()       # http://127.0.0.1:PORT/ forwards to the upstream
    proxy.add(r"/-/npm/v1/keys$", Reply(200, {"keys": []}))
    proxy.add(r"^/widget", Trickle(interval=0.5))   # headers, then one byte every 0.5 s
    ...                                              # point the action at proxy.url
    proxy.requests                                   # every request seen: method, path, headers

Everything not matched by a fault is forwarded as is; the upstream's own URL is rewritten to the
proxy's in bodies and headers (links, tarball URLs), so clients keep talking to the proxy.
With `tls=True` the same port speaks both https and http (the first byte tells which), so
`https://127.0.0.1:PORT` and `http://127.0.0.1:PORT` are one host and port, two schemes:
an `http://` downgrade on the same host is testable on loopback (`proxy.ca_file` for clients).

Faults: `Reply` (any status/body/headers; the body may be a function of the request, e.g. one that
echoes the Authorization header), `Hang`, `Trickle`, `GzipBomb`, `Redirect`, `EndlessPages`,
`RewriteJson`, `HoldUpload` (reads the upload, signals, then never answers).
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import ipaddress
import json
import re
import socket
import ssl
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .net import LOOPBACK, QuietHandler

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailers", "upgrade"}


@dataclass(frozen=True)
class Seen:
    """A request as the proxy saw it (header names lower-case)."""

    method: str
    path: str
    headers: dict[str, str]
    scheme: str
    body: bytes = b""


@dataclass
class Request:
    """What a fault gets: the request and a way to answer it."""

    seen: Seen
    handler: BaseHTTPRequestHandler
    proxy: FaultProxy

    def forward(self) -> tuple[int, list[tuple[str, str]], bytes]:
        return self.proxy._forward(self.seen)


class Fault:
    """Base: answer the request (write to `req.handler`)."""

    def __call__(self, req: Request) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def _send(h: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    h.send_response(status)
    for k, v in headers:
        if k.lower() not in HOP:
            h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)
        h.wfile.flush()


@dataclass
class Reply(Fault):
    """Answer `status` with `body` (dict/list: JSON; str/bytes: raw; callable(Seen) -> any of these)."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)

    def __call__(self, req: Request) -> None:
        body = self.body(req.seen) if callable(self.body) else self.body
        if isinstance(body, dict | list):
            data = json.dumps(body).encode()
            ctype = "application/json"
        else:
            data = body.encode() if isinstance(body, str) else bytes(body)
            ctype = "text/plain"
        headers = {"Content-Type": ctype, **self.headers}
        _send(req.handler, self.status, list(headers.items()), data)


@dataclass
class Hang(Fault):
    """Read the request, then never answer (until the proxy stops or `seconds` pass)."""

    seconds: float = 3600

    def __call__(self, req: Request) -> None:
        req.proxy._stopping.wait(self.seconds)
        req.handler.close_connection = True


@dataclass
class Trickle(Fault):
    """Forward, then send the status line and headers and the body one byte per `interval` seconds
    (`headers=True`: trickle the header block too)."""

    interval: float = 0.5
    headers: bool = False

    def __call__(self, req: Request) -> None:
        status, hdrs, body = req.forward()
        head = f"HTTP/1.1 {status} OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs if k.lower() not in HOP)
        head += f"Content-Length: {len(body)}\r\n\r\n"
        wfile = req.handler.wfile
        try:
            if not self.headers:
                wfile.write(head.encode())
                wfile.flush()
                data = body
            else:
                data = head.encode() + body
            for i in range(len(data)):
                if req.proxy._stopping.wait(self.interval):
                    break
                wfile.write(data[i : i + 1])
                wfile.flush()
        except OSError:
            pass  # the client gave up: that is the point
        req.handler.close_connection = True


@cache
def gzip_bomb(decoded_bytes: int) -> bytes:
    """A gzip stream of `decoded_bytes` zero bytes (1 GiB -> about 1 MB): one gzip member of 1 MiB
    of zeros, repeated (a gzip file may hold many members; decoders concatenate them)."""
    mib = 1 << 20
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = comp.compress(b"\0" * mib) + comp.flush()
    whole, rest = divmod(decoded_bytes, mib)
    data = member * whole
    if rest:
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        data += comp.compress(b"\0" * rest) + comp.flush()
    return data


@dataclass
class GzipBomb(Fault):
    """200 with `Content-Encoding: gzip` whose body decodes to `decoded_bytes` (JSON-looking prefix)."""

    decoded_bytes: int = 1 << 30
    status: int = 200

    def __call__(self, req: Request) -> None:
        data = gzip_bomb(self.decoded_bytes)
        _send(
            req.handler,
            self.status,
            [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
            data,
        )


@dataclass
class Redirect(Fault):
    """302 to `location` (a callable gets the request)."""

    location: str | Callable[[Seen], str]
    status: int = 302

    def __call__(self, req: Request) -> None:
        loc = self.location(req.seen) if callable(self.location) else self.location
        _send(req.handler, self.status, [("Location", loc), ("Content-Type", "text/plain")], b"moved")


@dataclass
class EndlessPages(Fault):
    """Forward, then add a `Link: <...page=N+1>; rel="next"` that never ends (same body every page)."""

    def __call__(self, req: Request) -> None:
        status, hdrs, body = req.forward()
        parts = urllib.parse.urlsplit(req.seen.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        page = int(query.get("page", "1") or 1)
        query["page"] = str(page + 1)
        nxt = f"{req.proxy.url.rstrip('/')}{parts.path}?{urllib.parse.urlencode(query)}"
        hdrs = [(k, v) for k, v in hdrs if k.lower() != "link"]
        hdrs.append(("Link", f'<{nxt}>; rel="next", <{nxt}>; rel="last"'))
        _send(req.handler, status, hdrs, body)


@dataclass
class RewriteJson(Fault):
    """Forward, then edit the JSON body with `fn(doc, seen)` (mutate in place or return a new one)."""

    fn: Callable[[Any, Seen], Any]

    def __call__(self, req: Request) -> None:
        status, hdrs, body = req.forward()
        try:
            doc = json.loads(body)
        except ValueError:
            _send(req.handler, status, hdrs, body)
            return
        new = self.fn(doc, req.seen)
        doc = doc if new is None else new
        _send(req.handler, status, hdrs, json.dumps(doc).encode())


@dataclass
class HoldUpload(Fault):
    """Read the upload (e.g. `npm publish`'s PUT), set `received`, then hold the connection without
    forwarding or answering until `release` is set (or the proxy stops). `closed` is set once the
    client hung up (it was stopped)."""

    received: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)

    def __call__(self, req: Request) -> None:
        self.received.set()
        sock = req.handler.connection
        while not (self.release.is_set() or req.proxy._stopping.is_set()):
            try:
                sock.settimeout(0.2)
                if sock.recv(1, socket.MSG_PEEK) == b"":
                    self.closed.set()
                    break
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                self.closed.set()
                break
        req.handler.close_connection = True


@dataclass
class _Rule:
    pattern: re.Pattern[str]
    method: str | None
    fault: Fault
    remaining: int | None
    hits: int = 0


class FaultProxy:
    """The proxy server (see the module docstring)."""

    def __init__(self, upstream: str, *, tls: bool = False) -> None:
        parts = urllib.parse.urlsplit(upstream)
        if parts.hostname != LOOPBACK:
            raise ValueError(f"loopback upstreams only, not {upstream}")
        self.upstream = upstream.rstrip("/")
        self._up_host, self._up_port = parts.hostname, parts.port or 80
        self.tls = tls
        self.rules: list[_Rule] = []
        self.requests: list[Seen] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ssl: ssl.SSLContext | None = None
        self._tmp = Path(tempfile.mkdtemp(prefix="gk-faultproxy-"))
        self.ca_file: Path | None = None
        if tls:
            chain, key = _self_signed(self._tmp)
            self.ca_file = self._tmp / "ca.pem"
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(chain, key)

    # lifecycle -------------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        handler = type("_BoundFaultHandler", (_Handler,), {"proxy": self})
        proxy = self

        class _Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that give up mid-request (the point of most faults) are not errors

            def finish_request(self, request: Any, client_address: Any) -> None:
                scheme = "http"
                if proxy._ssl is not None:
                    try:
                        request.settimeout(10)
                        first = request.recv(1, socket.MSG_PEEK)
                        if first == b"\x16":  # a TLS ClientHello
                            request = proxy._ssl.wrap_socket(request, server_side=True)
                            scheme = "https"
                        request.settimeout(None)
                    except (OSError, ssl.SSLError):
                        return
                handler_cls = type("_SchemeHandler", (handler,), {"scheme": scheme})
                handler_cls(request, client_address, self)

        self._httpd = _Server((LOOPBACK, 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """`http(s)://127.0.0.1:PORT/` (https when started with tls=True)."""
        return f"{'https' if self.tls else 'http'}://{LOOPBACK}:{self.port}/"

    @property
    def http_url(self) -> str:
        """The plain-http URL of the same host and port."""
        return f"http://{LOOPBACK}:{self.port}/"

    # faults ----------------------------------------------------------------------------------------

    def add(self, path_regex: str, fault: Fault, *, method: str | None = None, times: int | None = None) -> _Rule:
        """Requests whose path (with query) matches `path_regex` (re.search) get `fault` (`times`: only the
        next N of them)."""
        rule = _Rule(re.compile(path_regex), method, fault, times)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def seen(self, path_regex: str = "", method: str | None = None) -> list[Seen]:
        pat = re.compile(path_regex)
        with self._lock:
            return [r for r in self.requests if (method is None or r.method == method) and pat.search(r.path)]

    # internals -------------------------------------------------------------------------------------

    def _match(self, seen: Seen) -> Fault | None:
        with self._lock:
            self.requests.append(seen)
            for rule in self.rules:
                if (rule.method is None or rule.method == seen.method) and rule.pattern.search(seen.path):
                    if rule.remaining is not None:
                        if rule.remaining <= 0:
                            continue
                        rule.remaining -= 1
                    rule.hits += 1
                    return rule.fault
        return None

    def _rewrite(self, data: bytes) -> bytes:
        mine = self.url.rstrip("/").encode()
        return data.replace(self.upstream.encode(), mine)

    def _forward(self, seen: Seen) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = {k: v for k, v in seen.headers.items() if k not in HOP and k != "host"}
        headers["host"] = f"{LOOPBACK}:{self.port}"
        headers["accept-encoding"] = "identity"
        headers["x-forwarded-proto"] = seen.scheme  # Verdaccio builds tarball URLs from it
        conn = http.client.HTTPConnection(self._up_host, self._up_port, timeout=60)
        try:
            conn.request(seen.method, seen.path, body=seen.body or None, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            hdrs = [(k, self._rewrite(v.encode("latin-1")).decode("latin-1")) for k, v in resp.getheaders()]
            return resp.status, hdrs, self._rewrite(body)
        finally:
            conn.close()


class _Handler(QuietHandler):
    proxy: FaultProxy
    scheme = "http"

    def _serve(self) -> None:
        seen = Seen(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            self.scheme,
            self._body(),
        )
        fault = self.proxy._match(seen)
        try:
            if fault is not None:
                fault(Request(seen, self, self.proxy))
                return
            status, hdrs, body = self.proxy._forward(seen)
            _send(self, status, hdrs, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug in the proxy: answer 502 and remember it
            self.proxy.errors.append(f"{seen.method} {seen.path}: {type(exc).__name__}: {exc}")
            with contextlib.suppress(OSError):
                _send(self, 502, [("Content-Type", "text/plain")], b"fault proxy error")

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _serve


class Capture:
    """A plain loopback HTTP server that answers 404 to everything and records what it got (for
    "did the token go there?" checks)."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        cap = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                cap.requests.append(Seen(self.command, self.path, headers, "http"))
                _send(self, 404, [("Content-Type", "application/json")], b'{"error":"not here"}')

            do_GET = do_PUT = do_POST = do_HEAD = _serve

        self._httpd = ThreadingHTTPServer((LOOPBACK, 0), H)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> Capture:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._httpd.server_address[1]}/"


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it: (chain file, key file);
    `directory/ca.pem` is the CA for clients (node refuses a self-signed leaf even when trusted)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    # a name of its own: two fronts' CAs in one bundle (tests/test_e2e_proxy.py) must not shadow each other
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"npm-gatekeeper test CA {directory.name}")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        # localhost too: npm's proxy agent checks an IP host's certificate against the name "localhost"
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    chain, key_path = directory / "server-chain.pem", directory / "key.pem"
    chain.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return chain, key_path


def wall(fn: Callable[[], Any]) -> tuple[Any, float]:
    """(fn(), seconds it took)."""
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0


@dataclass
class ETag(Fault):
    """Forward, and behave as npmjs does with ETags: a 200 carries `ETag: "<sha256 of the body>"`, and a request
    whose `If-None-Match` names the current body's ETag gets `304 Not Modified` (no body)."""

    def __call__(self, req: Request) -> None:
        import hashlib

        status, headers, body = req.forward()
        tag = '"' + hashlib.sha256(body).hexdigest() + '"'
        if status == 200 and req.seen.headers.get("if-none-match") == tag:
            _send(req.handler, 304, [("ETag", tag)], b"")
            return
        kept = [(k, v) for k, v in headers if k.lower() != "etag"]
        _send(req.handler, status, [*kept, ("ETag", tag)] if status == 200 else kept, body)
