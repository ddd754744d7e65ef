"""Loopback networking helpers for the test stand-ins."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from typing import Any

LOOPBACK = "127.0.0.1"


def forward(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes, who: str
) -> tuple[int, str, list[tuple[str, str]], bytes]:
    """Send one request on to the loopback upstream at `port` (identity encoding, bodies sized):
    (status, reason, headers, body); a 502 with a JSON error "`who` failed: ..." when the upstream fails."""
    headers = {**headers, "Accept-Encoding": "identity"}
    if body or method in ("PUT", "POST", "PATCH"):
        headers["Content-Length"] = str(len(body))
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=120)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.reason, resp.getheaders(), data
    except OSError as exc:
        error = json.dumps({"error": f"{who} failed: {exc}"}).encode()
        return 502, "Bad Gateway", [("Content-Type", "application/json")], error
    finally:
        conn.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0, alive: object = None) -> None:
    """Poll `url` (loopback only) until it answers 2xx; `alive()` returning False aborts early."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"refusing to poll a non-loopback URL: {url}")
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if callable(alive) and not alive():
            raise RuntimeError(f"the server behind {url} exited before it answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # loopback only (checked above)
                if 200 <= resp.status < 300:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s (last error: {last})")


class QuietHandler(BaseHTTPRequestHandler):
    """An HTTP/1.1 request handler for the stand-ins: no access log, no Nagle, a request body reader."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _body(self) -> bytes:
        """The request body, de-chunked (npm sends chunked uploads) or by Content-Length."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""
