"""A loopback forward proxy that tunnels CONNECT and records what it could read (issue 21).

    proxy = TunnelProxy().start()        # http://127.0.0.1:PORT, as `network.https-proxy` names it
    proxy.seen                           # every request line and its headers (CONNECT included)
    proxy.tunnels                        # per CONNECT: the target and the first byte the client sent through it

A CONNECT to a loopback target is tunnelled byte for byte (so TLS runs end to end and the proxy reads
nothing but the target); any other request (a plain-http request in absolute form, which hands the proxy
its headers) is recorded with its headers and answered 502. Only loopback targets are reached.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


@dataclass
class SeenRequest:
    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Tunnel:
    target: str
    first_byte: int | None = None  # 0x16: a TLS handshake (nothing readable followed)
    bytes_up: int = 0


class TunnelProxy:
    def __init__(self) -> None:
        self.seen: list[SeenRequest] = []
        self.tunnels: list[Tunnel] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    def start(self) -> TunnelProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def _record(self) -> SeenRequest:
                seen = SeenRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                with proxy._lock:
                    proxy.seen.append(seen)
                return seen

            def do_CONNECT(self) -> None:
                self._record()
                host, _, port = self.path.rpartition(":")
                if host not in LOOPBACK_HOSTS or not port.isdigit():
                    self.send_response(403)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    upstream = socket.create_connection((host, int(port)), timeout=30)
                except OSError:
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                tunnel = Tunnel(self.path)
                with proxy._lock:
                    proxy.tunnels.append(tunnel)
                self.close_connection = True
                _pump(self.connection, upstream, tunnel)

            def _refuse(self) -> None:
                self._record()
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_HEAD = do_PATCH = do_DELETE = _refuse

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> TunnelProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _pump(client: socket.socket, upstream: socket.socket, tunnel: Tunnel) -> None:
    """Copy bytes both ways until either side closes."""
    socks = [client, upstream]
    try:
        while True:
            readable, _, broken = select.select(socks, [], socks, 60)
            if broken or not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                if sock is client:
                    if tunnel.first_byte is None:
                        tunnel.first_byte = data[0]
                    tunnel.bytes_up += len(data)
                    upstream.sendall(data)
                else:
                    client.sendall(data)
    except OSError:
        return
    finally:
        with contextlib.suppress(OSError):
            upstream.close()
