"""A real npm registry for tests: Verdaccio 6.8.0 on 127.0.0.1, behind a tiny packument-patching proxy.

Verdaccio is installed from the npm registry into a cache dir on first use (`$GATEKEEPER_CACHE/verdaccio`
or `<repo>/.cache/verdaccio`) and reused afterwards. Each session gets fresh storage and htpasswd, no
uplinks (nothing leaves the machine), `$all` may read and `$authenticated` may publish.

Verdaccio does not record `maintainers` (it strips a top-level `maintainers` even when written into its
storage by hand), so `url` points at a small reverse proxy that forwards everything to Verdaccio and,
for packages configured with `set_maintainers` / `patch_packument`, edits the packument on the way out.

`verdaccio_session(root)` starts a Verdaccio of its own. `shared_verdaccio_session(root)` is for
processes of one test run (pytest-xdist workers): the first starts Verdaccio under a file lock in
`root`, the others use the same one, each with its own proxy in front (patches, maintainers and the
request log stay per process), and the last one out stops it. Tests stay independent as they are
within one process: names from `unique()` (pid and counter), nothing assumes an empty registry.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .net import LOOPBACK, QuietHandler, forward, free_port, wait_http

VERDACCIO_VERSION = "6.8.0"
REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_MANIFEST: dict[str, Any] = {
    "name": "gatekeeper-test-verdaccio",
    "private": True,
    "dependencies": {"verdaccio": VERDACCIO_VERSION},
    "overrides": {"node-fetch": "2.7.0"},
}
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "accept-encoding",
    "content-encoding",
}


class RegistryCallError(RuntimeError):
    """A registry HTTP call answered with an unexpected status."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        super().__init__(f"{method} {path} -> {status}: {body}")
        self.status = status
        self.body = body


def cache_dir() -> Path:
    """Where Verdaccio is installed (created if missing)."""
    base = os.environ.get("GATEKEEPER_CACHE")
    path = Path(base) / "verdaccio" if base else REPO_ROOT / ".cache" / "verdaccio"
    path.mkdir(parents=True, exist_ok=True)
    return path


def ensure_installed(directory: Path | None = None, timeout: float = 600) -> Path:
    """Install verdaccio@6.8.0 with npm into `directory` unless already there; returns its bin script."""
    root = directory or cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    script = root / "node_modules" / "verdaccio" / "bin" / "verdaccio"
    installed = root / "node_modules" / "verdaccio" / "package.json"
    manifest = json.dumps(INSTALL_MANIFEST, indent=2) + "\n"
    with open(root / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # other test sessions may share the cache
        try:
            version = json.loads(installed.read_text())["version"] if installed.exists() else None
        except (OSError, ValueError):
            version = None
        pkg = root / "package.json"
        if version == VERDACCIO_VERSION and script.exists() and pkg.exists() and pkg.read_text() == manifest:
            return script
        pkg.write_text(manifest)
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is required to install Verdaccio for the tests (it is not on PATH)")
        proc = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0 or not script.exists():
            raise RuntimeError(f"npm install verdaccio@{VERDACCIO_VERSION} failed:\n{proc.stdout}\n{proc.stderr}")
        return script


# Verdaccio's legacy tokens (what `add_user` and npm's login return) carry user:password, and Verdaccio checks
# that password against htpasswd on EVERY request that sends one: with bcrypt's default cost (10 rounds, in
# pure-JS bcryptjs) that is ~90 ms of Verdaccio CPU per authenticated request, a third of the suite's
# registry tests' CPU. The hash is still bcrypt and every check still happens; 4 is bcrypt's lowest cost.
BCRYPT_ROUNDS = 4


def _config(root: Path) -> str:
    storage, htpasswd, log = root / "storage", root / "htpasswd", root / "verdaccio.log"
    return f"""\
storage: {json.dumps(str(storage))}
auth:
  htpasswd:
    file: {json.dumps(str(htpasswd))}
    max_users: 10000
    rounds: {BCRYPT_ROUNDS}
uplinks: {{}}
packages:
  '@*/*':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
  '**':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
web:
  enable: false
max_body_size: 200mb
log: {{type: file, path: {json.dumps(str(log))}, level: warn}}
"""


def package_path(name: str) -> str:
    """URL path of a packument: `/name` or `/@scope%2fname`."""
    return "/" + urllib.parse.quote(name, safe="@")


@dataclass
class ProxiedRequest:
    """A request that went through the proxy."""

    method: str
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class Verdaccio:
    """A running Verdaccio plus the proxy in front of it. `url` ends with `/`."""

    root: Path
    process: subprocess.Popen[bytes] | None  # None: a shared Verdaccio another process started
    upstream_port: int
    proxy: ThreadingHTTPServer
    patches: dict[str, list[Callable[[dict[str, Any]], None]]] = field(default_factory=dict)
    maintainers: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    requests: list[ProxiedRequest] = field(default_factory=list)
    upstream_pid: int = 0
    owns_upstream: bool = True  # stop() stops Verdaccio too (False: a shared one, its session stops it)
    _counter: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _publisher: NpmPublisher | None = None

    # addresses --------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The registry URL tests and the product use (the proxy), e.g. http://127.0.0.1:PORT/."""
        return f"http://{LOOPBACK}:{self.proxy.server_address[1]}/"

    @property
    def upstream_url(self) -> str:
        """Verdaccio itself, bypassing the proxy."""
        return f"http://{LOOPBACK}:{self.upstream_port}/"

    @property
    def host_key(self) -> str:
        """The npmrc key prefix for this registry: `//127.0.0.1:PORT/`."""
        return "//" + self.url.split("://", 1)[1]

    @property
    def log_path(self) -> Path:
        return self.root / "verdaccio.log"

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold a lock named `name` among every process using this Verdaccio (xdist workers share one):
        for a fixed package name that "publish it if it is not there yet" must not publish twice."""
        with open(self.root / f".lock-{urllib.parse.quote(name, safe='')}", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def unique(self, prefix: str) -> str:
        """A name no other test of this session uses (users and packages share one registry)."""
        with self._lock:
            self._counter += 1
            return f"{prefix}-{os.getpid()}-{self._counter}"

    # HTTP -------------------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        expect: tuple[int, ...] = (200, 201),
    ) -> Any:
        """One JSON call to the registry (through the proxy); raises RegistryCallError on other statuses."""
        conn = http.client.HTTPConnection(LOOPBACK, int(self.proxy.server_address[1]), timeout=30)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        if resp.status not in expect:
            raise RegistryCallError(method, path, resp.status, parsed)
        return parsed

    def add_user(self, name: str, password: str, email: str | None = None) -> str:
        """Create user `name` (PUT /-/user/org.couchdb.user:NAME) and return its login token."""
        doc = {
            "_id": f"org.couchdb.user:{name}",
            "name": name,
            "password": password,
            "type": "user",
            "roles": [],
            "email": email or f"{name}@example.test",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        answer = self.call("PUT", f"/-/user/org.couchdb.user:{urllib.parse.quote(name)}", body=doc)
        return str(answer["token"])

    def create_token(
        self, login_token: str, password: str, readonly: bool = False, cidr: list[str] | None = None
    ) -> str:
        """POST /-/npm/v1/tokens: a new token (read-only or not) for the user of `login_token`."""
        answer = self.call(
            "POST",
            "/-/npm/v1/tokens",
            token=login_token,
            body={"password": password, "readonly": readonly, "cidr_whitelist": cidr or []},
        )
        return str(answer["token"])

    def list_tokens(self, token: str) -> list[dict[str, Any]]:
        """GET /-/npm/v1/tokens (entries carry masked `token` and `key`)."""
        return list(self.call("GET", "/-/npm/v1/tokens", token=token)["objects"])

    def whoami(self, token: str) -> str | None:
        """The username of `token`, or None when the registry does not know it."""
        try:
            answer = self.call("GET", "/-/whoami", token=token)
        except RegistryCallError:
            return None
        return answer.get("username") if isinstance(answer, dict) else None

    def packument(self, name: str) -> dict[str, Any] | None:
        """The full packument of `name` (with any patches applied), or None if it does not exist."""
        try:
            return dict(self.call("GET", package_path(name)))
        except RegistryCallError as err:
            if err.status == 404:
                return None
            raise

    # packument patches ------------------------------------------------------------------------------

    def patch_packument(self, name: str, fn: Callable[[dict[str, Any]], None]) -> None:
        """Edit `name`'s packument in every response of the proxy (fn mutates the dict in place)."""
        with self._lock:
            self.patches.setdefault(name, []).append(fn)

    def set_maintainers(self, name: str, users: list[str | dict[str, str]]) -> None:
        """Serve `name` with these `maintainers` (top-level and on every version), as npmjs does.

        Users are names (`"bob"` -> `{"name": "bob", "email": "bob@example.test"}`) or full dicts."""
        people = [u if isinstance(u, dict) else {"name": u, "email": f"{u}@example.test"} for u in users]
        with self._lock:
            self.maintainers[name] = people

    def clear_patches(self, name: str | None = None) -> None:
        """Forget maintainers and patches (of `name`, or all)."""
        with self._lock:
            for table in (self.patches, self.maintainers):
                if name is None:
                    table.clear()
                else:
                    table.pop(name, None)

    # npm CLI ----------------------------------------------------------------------------------------

    def npmrc_text(self, token: str) -> str:
        return f"registry={self.url}\n{self.host_key}:_authToken={token}\n"

    def npm_env(self) -> dict[str, str]:
        """Env for npm commands against this registry (own cache, no update notifier)."""
        env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
        env.update(
            npm_config_cache=str(self.root / "npm-cache"),
            npm_config_update_notifier="false",
            npm_config_audit="false",
            npm_config_fund="false",
            npm_config_registry=self.url,
        )
        return env

    def publish(
        self,
        package_dir: Path | str,
        token: str,
        *,
        tag: str | None = None,
        args: tuple[str, ...] = (),
        check: bool = True,
        timeout: float = 120,
        cli: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """`npm publish` of `package_dir` (a test's set-up): what the registry receives is what the npm CLI sends.

        A plain publish runs npm's own publish steps in one long-lived node process of this test process
        (`NpmPublisher`, tests/_support/npm_publisher.js: the npm on PATH's modules, no CLI start per call);
        `cli=True`, extra `args`, and what that path does not model (publish lifecycle scripts, publishConfig
        other than `registry`, a .npmrc in the package) run the real CLI: `npm publish` with the token in a
        temp userconfig (0600) outside any workspace. Failures come back as the CLI's would: returncode 1 and
        `npm error code E...` on stderr."""
        if not cli and not args and NpmPublisher.handles(Path(package_dir)):
            with self._lock:
                if self._publisher is None or not self._publisher.alive():
                    self._publisher = NpmPublisher(self.root, self.npm_env())
                publisher = self._publisher
            cache = self.npm_env()["npm_config_cache"]
            proc = publisher.publish(Path(package_dir), self.url, token, tag, cache, timeout)
        else:
            proc = self._publish_cli(package_dir, token, tag=tag, args=args, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"npm publish failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def _publish_cli(
        self, package_dir: Path | str, token: str, *, tag: str | None, args: tuple[str, ...], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        tmp = Path(tempfile.mkdtemp(prefix="gk-npmrc-"))
        try:
            rc = tmp / "npmrc"
            fd = os.open(rc, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(self.npmrc_text(token))
            cmd = [_npm(), "publish", "--userconfig", str(rc), "--registry", self.url]
            if tag:
                cmd += ["--tag", tag]
            cmd += list(args)
            return subprocess.run(
                cmd, cwd=package_dir, env=self.npm_env(), capture_output=True, text=True, timeout=timeout, check=False
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # lifecycle --------------------------------------------------------------------------------------

    def alive(self) -> bool:
        """Verdaccio itself is running."""
        if self.process is not None:
            return self.process.poll() is None
        return _pid_alive(self.upstream_pid)

    def stop(self) -> None:
        """Stop the proxy, and Verdaccio unless it is shared (the last user's session stops that one)."""
        if self._publisher is not None:
            self._publisher.stop()
        self.proxy.shutdown()
        self.proxy.server_close()
        if self.owns_upstream and self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for path in (self.log_path, self.root / "verdaccio.out"):
            if path.exists():
                out.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(out)


# `npm publish` runs these scripts of the package (prepublish: npm 11 no longer does, kept on the safe side)
PUBLISH_SCRIPTS = ("prepublishOnly", "prepack", "prepare", "postpack", "publish", "postpublish", "prepublish")
PUBLISHER_JS = Path(__file__).with_name("npm_publisher.js")


class NpmPublisher:
    """One node process running npm's own publish steps (tests/_support/npm_publisher.js) for many publishes.

    A test process publishes dozens of baselines; each `npm publish` CLI start costs ~1 s of CPU, most of it
    loading the CLI and its config. This loads the modules of the npm on PATH once. Requests are served
    one at a time; a publisher that died is replaced on the next publish."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        npm_root = Path(os.path.realpath(_npm())).parents[1]  # .../node_modules/npm (bin/npm-cli.js)
        read_fd, write_fd = os.pipe()
        self._log = root / f"npm-publisher-{os.getpid()}.log"
        with open(self._log, "ab") as log:
            self.process = subprocess.Popen(
                [_node(), str(PUBLISHER_JS), str(npm_root), str(write_fd)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                env=env,
            )
        os.close(write_fd)
        self._answers = os.fdopen(read_fd, "rb")
        self._next = 0
        self._lock = threading.Lock()

    @staticmethod
    def handles(package_dir: Path) -> bool:
        """This path publishes `package_dir` as the CLI would (else the caller runs the CLI)."""
        if (package_dir / ".npmrc").exists():
            return False
        try:
            manifest = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False  # the CLI says what is wrong with it
        if not isinstance(manifest, dict):
            return False
        # publishConfig may hold any npm config key; `registry` alone changes nothing here: the CLI is given
        # --registry, and a key given on the command line overrides publishConfig's (lib/commands/publish.js)
        config = manifest.get("publishConfig", {})
        if not isinstance(config, dict) or set(config) - {"registry"}:
            return False
        scripts = manifest.get("scripts")
        if scripts is not None and not isinstance(scripts, dict):
            return False
        return not any(name in (scripts or {}) for name in PUBLISH_SCRIPTS)

    def alive(self) -> bool:
        return self.process.poll() is None

    def publish(
        self, package_dir: Path, registry: str, token: str, tag: str | None, cache: str, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        with self._lock:
            self._next += 1
            request = {
                "id": self._next,
                "dir": str(package_dir.resolve()),
                "registry": registry,
                "token": token,
                "tag": tag,
                "cache": cache,
            }
            assert self.process.stdin is not None
            try:
                self.process.stdin.write(json.dumps(request).encode() + b"\n")
                self.process.stdin.flush()
            except OSError as exc:
                raise RuntimeError(f"the npm publisher process died: {exc}\n{self._tail()}") from exc
            ready, _, _ = select.select([self._answers], [], [], timeout)
            line = self._answers.readline() if ready else b""
            if not line:
                self.stop()
                raise RuntimeError(f"the npm publisher gave no answer in {timeout} s (or died)\n{self._tail()}")
            answer = json.loads(line)
        cmd = ["npm", "publish", str(package_dir), *(["--tag", tag] if tag else [])]
        if answer.get("id") != request["id"]:
            raise RuntimeError(f"the npm publisher answered request {answer.get('id')}, not {request['id']}")
        if answer["ok"]:
            return subprocess.CompletedProcess(cmd, 0, f"+ {answer['published']}\n", "")
        error = answer["error"]
        code = f"npm error code {error['code']}\n" if error.get("code") else ""
        return subprocess.CompletedProcess(cmd, 1, "", f"{code}npm error {error['message']}\n")

    def _tail(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._answers.close()


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is required for the tests (not on PATH)")
    return npm


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is required for the tests (not on PATH)")
    return node


class _ProxyHandler(QuietHandler):
    registry: Verdaccio  # set on the bound subclass

    def _forward(self) -> None:
        reg = self.registry
        body = self._body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        status, reason, resp_headers, data = forward(
            reg.upstream_port, self.command, self.path, headers, body, "proxy: upstream Verdaccio"
        )
        data = self._patch(status, data)
        with reg._lock:
            reg.requests.append(
                ProxiedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, status)
            )
        self.send_response(status, reason)
        for k, v in resp_headers:
            if k.lower() not in HOP_BY_HOP and k.lower() != "etag":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _patch(self, status: int, data: bytes) -> bytes:
        if self.command != "GET" or status != 200:
            return data
        if "application/vnd.npm.install-v1+json" in self.headers.get("Accept", ""):
            return data  # the abbreviated packument has no maintainers on npmjs either
        path = urllib.parse.urlsplit(self.path).path
        name = urllib.parse.unquote(path.lstrip("/"))
        with self.registry._lock:
            patches = list(self.registry.patches.get(name, []))
            people = self.registry.maintainers.get(name)
        if not patches and people is None:
            return data
        try:
            doc = json.loads(data)
        except ValueError:
            return data
        if not isinstance(doc, dict) or "versions" not in doc:
            return data
        if people is not None:
            doc["maintainers"] = [dict(p) for p in people]
            for version in (doc.get("versions") or {}).values():
                if isinstance(version, dict):
                    version["maintainers"] = [dict(p) for p in people]
        for fn in patches:
            fn(doc)
        return json.dumps(doc).encode()

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _forward


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by the process that started it) is not running
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def _prepare(root: Path) -> Path:
    script = ensure_installed()
    root.mkdir(parents=True, exist_ok=True)
    (root / "storage").mkdir(exist_ok=True)
    (root / "htpasswd").touch()
    config = root / "config.yaml"
    config.write_text(_config(root))
    return script


def _start_upstream(root: Path, start_timeout: float) -> tuple[subprocess.Popen[bytes], int]:
    """Start Verdaccio with the storage under `root` (installing it if needed): (process, port)."""
    script = _prepare(root)
    config = root / "config.yaml"
    last_error = ""
    for _attempt in range(3):  # the free port may be taken between probe and bind
        port = free_port()
        with open(root / "verdaccio.out", "ab") as out:
            env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
            proc = subprocess.Popen(
                [_node(), str(script), "--config", str(config), "--listen", f"{LOOPBACK}:{port}"],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=root,
                env=env,
                start_new_session=True,
            )
        try:
            wait_http(f"http://{LOOPBACK}:{port}/-/ping", timeout=start_timeout, alive=lambda p=proc: p.poll() is None)
        except (TimeoutError, RuntimeError) as exc:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            last_error = f"{exc}\n{(root / 'verdaccio.out').read_text(errors='replace')[-4000:]}"
            continue
        return proc, port
    raise RuntimeError(f"Verdaccio did not start: {last_error}")


@contextlib.contextmanager
def _fronted(
    root: Path, process: subprocess.Popen[bytes] | None, port: int, pid: int, *, shared: bool = False
) -> Iterator[Verdaccio]:
    """The packument-patching proxy of this process in front of Verdaccio on `port`."""
    handler = type("_BoundProxyHandler", (_ProxyHandler,), {})
    proxy = ThreadingHTTPServer((LOOPBACK, 0), handler)
    proxy.daemon_threads = True
    registry = Verdaccio(
        root=root, process=process, upstream_port=port, proxy=proxy, upstream_pid=pid, owns_upstream=not shared
    )
    handler.registry = registry  # type: ignore[attr-defined]
    thread = threading.Thread(target=proxy.serve_forever, args=(0.05,), name="verdaccio-proxy", daemon=True)
    thread.start()
    try:
        wait_http(f"{registry.url}-/ping", timeout=10)
        yield registry
    finally:
        registry.stop()
        thread.join(timeout=5)


@contextlib.contextmanager
def verdaccio_session(root: Path, *, start_timeout: float = 60) -> Iterator[Verdaccio]:
    """Start Verdaccio (installing it if needed) with fresh storage under `root`; stop it afterwards."""
    proc, port = _start_upstream(root, start_timeout)
    with _fronted(root, proc, port, proc.pid) as registry:
        yield registry


SHARED_STATE = "shared.json"  # {"pid", "port", "users"}: the shared Verdaccio of a test run


def stop_pid(pid: int, timeout: float = 10) -> None:
    """SIGTERM a Verdaccio started by another process of the run, SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        if not _pid_alive(pid):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


@contextlib.contextmanager
def _shared_lock(root: Path) -> Iterator[Path]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield root / SHARED_STATE


@contextlib.contextmanager
def shared_verdaccio_session(root: Path, *, start_timeout: float = 60) -> Iterator[Verdaccio]:
    """ONE Verdaccio for every process of a test run that passes the same `root` (xdist workers).

    Under a file lock: the first user starts it and records pid and port in `root/shared.json`; later
    users count themselves in; the last one out stops it. Each process gets its own proxy in front."""
    proc: subprocess.Popen[bytes] | None = None
    with _shared_lock(root) as state_file:
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = None
        if state and _pid_alive(int(state["pid"])):
            state["users"] = int(state["users"]) + 1
        else:
            proc, port = _start_upstream(root, start_timeout)
            state = {"pid": proc.pid, "port": port, "users": 1}
        state_file.write_text(json.dumps(state), encoding="utf-8")
    try:
        with _fronted(root, proc, int(state["port"]), int(state["pid"]), shared=True) as registry:
            yield registry
    finally:
        with _shared_lock(root) as state_file:
            try:
                now = json.loads(state_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                now = {"pid": state["pid"], "users": 1}
            if int(now["pid"]) != int(state["pid"]):
                stop_pid(int(state["pid"]))  # ours died and was replaced: leave the other one alone
            elif int(now["users"]) <= 1:
                stop_pid(int(state["pid"]))
                state_file.unlink(missing_ok=True)
            else:
                now["users"] = int(now["users"]) - 1
                state_file.write_text(json.dumps(now), encoding="utf-8")
            if proc is not None and not _pid_alive(proc.pid):
                proc.wait(timeout=10)  # reap it if this process started it


def stop_shared(root: Path) -> None:
    """The run's end (the xdist controller): stop a shared Verdaccio a crashed worker left running."""
    if not (root / SHARED_STATE).exists():
        return
    with _shared_lock(root) as state_file:
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        stop_pid(int(state["pid"]))
        state_file.unlink(missing_ok=True)
