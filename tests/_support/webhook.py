"""A loopback webhook receiver: records every POST (path, headers, JSON body) and answers `status`.

    with WebhookReceiver() as hook:
        url = hook.url("/hooks/T000/secret-part")   # pass as the `notify-webhook` input
        ...
        assert len(hook.posts) == 1 and hook.posts[0].json["version"] == "1.0.0"

`hook.status = 500` makes it fail (each answer is that status, with a small JSON body).
Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .net import LOOPBACK


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None


@dataclass
class WebhookReceiver:
    status: int = 200
    posts: list[Post] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # requests that were not POSTs
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(length, 1 << 20))
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = None
                with receiver._lock:
                    receiver.posts.append(Post(self.path, {k.lower(): v for k, v in self.headers.items()}, raw, parsed))
                    status = receiver.status
                data = json.dumps({"ok": 200 <= status < 300}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _other(self) -> None:
                with receiver._lock:
                    receiver.other.append(f"{self.command} {self.path}")
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PUT = do_PATCH = do_DELETE = _other

        self._httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True, name="webhook")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str = "/hook") -> str:
        assert self._httpd is not None, "receiver not started"
        return f"http://{LOOPBACK}:{self._httpd.server_address[1]}{path}"
