"""A loopback front for the test Verdaccio that plays the npm registry's trusted-publishing parts.

- `POST /-/npm/v1/oidc/token/exchange/package/<escaped name>`: verifies the Bearer JWT (RS256 against the
  GitHub stand-in's JWKS, issuer, audience `npm:127.0.0.1`, expiry) and the package's configured
  trusted publisher (repository, workflow file, environment), then answers 201 `{"token", "expires"}`
  with a real Verdaccio token; otherwise 404/401 with `{"message": "OIDC token exchange error - ..."}`
  like npmjs. `refuse(...)` forces a refusal.
- `POST /-/stage/package/<escaped name>` (what `npm stage publish` sends, libnpmpublish): the caller must
  be a Verdaccio user (checked with `/-/whoami` upstream); the body is kept, nothing is published,
  the answer is `{"stageId": <uuid>}`.
- `GET /-/npm/v1/attestations/<name>@<version>`: documents set with `set_attestations(...)`, else 404.
- Everything else goes through to `Verdaccio.url` (its packument-patching proxy) unchanged.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from .net import LOOPBACK, QuietHandler, forward
from .oidc_issuer import verify

EXCHANGE_PREFIX = "/-/npm/v1/oidc/token/exchange/package/"
STAGE_PREFIX = "/-/stage/package/"
ATTESTATIONS_PREFIX = "/-/npm/v1/attestations/"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "content-length", "accept-encoding"}


@dataclass(frozen=True)
class TrustedPublisher:
    """A package's trusted publisher on npmjs.com: GitHub Actions, repository, workflow file, environment."""

    repository: str
    workflow: str = "release.yml"
    environment: str = ""


@dataclass
class FrontRequest:
    """A request the front saw (path as sent, headers lower-cased, body kept for POSTs)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0


@dataclass
class NpmFront:
    """The front server; configure it per test, then point the `registry` input at `url`."""

    upstream_port: int
    jwks: Callable[[], dict[str, Any]]
    token_for: Callable[[str], str]  # package name -> a real Verdaccio publish token
    publishers: dict[str, TrustedPublisher] = field(default_factory=dict)
    attestations: dict[str, dict[str, Any]] = field(default_factory=dict)  # "name@version" -> document
    refusals: dict[str, tuple[int, str]] = field(default_factory=dict)
    requests: list[FrontRequest] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)  # tokens handed out by the exchange
    staged: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage id -> the staged document
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # lifecycle ------------------------------------------------------------------------------------

    def start(self) -> NpmFront:
        handler = type("_BoundFrontHandler", (_FrontHandler,), {"front": self})
        self._server = ThreadingHTTPServer((LOOPBACK, 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="npm-front", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{LOOPBACK}:{self._server.server_address[1]}/"

    # configuration --------------------------------------------------------------------------------

    def trust(self, name: str, repository: str, workflow: str = "release.yml", environment: str = "") -> None:
        """Configure `name`'s trusted publisher, as a maintainer does on npmjs.com."""
        self.publishers[name] = TrustedPublisher(repository, workflow, environment)

    def refuse(self, name: str, status: int = 404, message: str = "") -> None:
        """Every exchange for `name` is refused with `status` and `message`."""
        self.refusals[name] = (status, message or f"OIDC token exchange error - package not found: {name}")

    def set_attestations(self, name: str, version: str, document: dict[str, Any]) -> None:
        self.attestations[f"{name}@{version}"] = document

    def requests_to(self, method: str, prefix: str) -> list[FrontRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    # the exchange ---------------------------------------------------------------------------------

    def exchange(self, name: str, authorization: str) -> tuple[int, dict[str, Any]]:
        if name in self.refusals:
            status, message = self.refusals[name]
            return status, {"message": message}
        scheme, _, jwt = authorization.partition(" ")
        if scheme.lower() != "bearer" or not jwt:
            return 401, {"message": "OIDC token exchange error - missing bearer token"}
        claims = verify(jwt.strip(), self.jwks())
        if claims is None:
            return 401, {"message": "OIDC token exchange error - invalid signature"}
        now = time.time()
        if claims.get("aud") != f"npm:{LOOPBACK}" or not isinstance(claims.get("exp"), int) or claims["exp"] < now:
            return 401, {"message": "OIDC token exchange error - invalid audience or expired token"}
        publisher = self.publishers.get(name)
        if publisher is None:
            return 404, {"message": f"OIDC token exchange error - package not found: {name}"}
        repo = str(claims.get("repository", ""))
        workflow_ref = str(claims.get("workflow_ref", ""))
        wanted_ref = f"{publisher.repository}/.github/workflows/{publisher.workflow}@"
        if repo != publisher.repository or not workflow_ref.startswith(wanted_ref):
            return 404, {"message": "OIDC token exchange error - no matching trusted publisher"}
        if publisher.environment and claims.get("environment") != publisher.environment:
            return 404, {"message": "OIDC token exchange error - environment does not match"}
        token = self.token_for(name)
        with self._lock:
            self.issued.append(token)
        return 201, {"token": token, "expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 900))}


class _FrontHandler(QuietHandler):
    front: NpmFront

    def _serve(self) -> None:
        front = self.front
        body = self._body()
        path = urllib.parse.urlsplit(self.path).path
        req = FrontRequest(self.command, path, {k.lower(): v for k, v in self.headers.items()}, body)
        with front._lock:
            front.requests.append(req)
        if self.command == "POST" and path.startswith(EXCHANGE_PREFIX):
            name = urllib.parse.unquote(path[len(EXCHANGE_PREFIX) :])
            status, doc = front.exchange(name, self.headers.get("Authorization", ""))
            return self._json(req, status, doc)
        if self.command == "POST" and path.startswith(STAGE_PREFIX):
            return self._stage(req, urllib.parse.unquote(path[len(STAGE_PREFIX) :]), body)
        if self.command == "GET" and path.startswith(ATTESTATIONS_PREFIX):
            key = urllib.parse.unquote(path[len(ATTESTATIONS_PREFIX) :])
            doc = front.attestations.get(key)
            return self._json(req, 200, doc) if doc is not None else self._json(req, 404, {"error": "not found"})
        self._forward(req, body)

    def _stage(self, req: FrontRequest, name: str, body: bytes) -> None:
        auth = {"Authorization": self.headers.get("Authorization", "")}
        status, answer = self._upstream("GET", "/-/whoami", None, auth)
        try:
            user = json.loads(answer).get("username") if status == 200 else None
        except ValueError:
            user = None
        if not user:
            return self._json(req, 401, {"error": "You must be logged in to stage packages"})
        try:
            doc = json.loads(body)
        except ValueError:
            return self._json(req, 400, {"error": "bad body"})
        if doc.get("name") != name or not doc.get("_attachments"):
            return self._json(req, 400, {"error": "the staged document does not match the package"})
        stage_id = str(uuid.uuid4())
        with self.front._lock:
            self.front.staged[stage_id] = {"user": user, "document": doc}
        self._json(req, 200, {"stageId": stage_id})

    def _upstream(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(LOOPBACK, self.front.upstream_port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def _forward(self, req: FrontRequest, body: bytes) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        status, reason, resp_headers, data = forward(
            self.front.upstream_port, self.command, self.path, headers, body, "front: upstream"
        )
        req.status = status
        self.send_response(status, reason)
        for k, v in resp_headers:
            if k.lower() not in HOP_BY_HOP and k.lower() not in ("etag", "content-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, req: FrontRequest, status: int, doc: Any) -> None:
        req.status = status
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _serve


def slsa_statement(
    name: str, version: str, repository_url: str, workflow_path: str, ref: str = "refs/heads/main"
) -> dict[str, Any]:
    """An attestations document as npmjs serves it: a SLSA v1 provenance bundle (DSSE envelope, unsigned here)."""
    from urllib.parse import quote

    if name.startswith("@"):
        scope, _, bare = name[1:].partition("/")
        subject = f"pkg:npm/%40{quote(scope, safe='')}/{quote(bare, safe='')}@{version}"
    else:
        subject = f"pkg:npm/{quote(name, safe='')}@{version}"
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": subject, "digest": {"sha512": "00" * 64}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
                "externalParameters": {"workflow": {"ref": ref, "repository": repository_url, "path": workflow_path}},
            },
            "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}},
        },
    }
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {},
        "dsseEnvelope": {"payload": payload, "payloadType": "application/vnd.in-toto+json", "signatures": []},
    }
    return {"attestations": [{"predicateType": "https://slsa.dev/provenance/v1", "bundle": bundle}]}
