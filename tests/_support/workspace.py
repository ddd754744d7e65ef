"""Real package repos and a harness that runs the action the way the runner runs a container action.

- `make_package_repo(...)`: a git repo (branch `main`) holding a real npm package and a release workflow.
- `run_action(...)`: `python <repo>/entrypoint.py` as a subprocess with an env built from scratch
  (`GITHUB_*`, `INPUT_*` for every declared input, HOME, TMPDIR), returning an `ActionResult`.
- `assert_no_leak(...)`: fails if a secret (or its base64) appears in any output, file or git object,
  npm's own files included ($HOME/.npm/_logs, its cache, TMPDIR: they are under the run's HOME and TMPDIR,
  which are always searched).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatekeeper._internal.hostenv import IMAGE_PATH
from gatekeeper.config import INPUT_DEFAULTS, env_name

REPO_ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO_ROOT / "entrypoint.py"


def _entrypoint_flags() -> list[str]:
    """The interpreter flags of the Dockerfile's ENTRYPOINT (`busybox env -u LD_PRELOAD ... /opt/venv/bin/python
    -I ... entrypoint.py`): the harness starts the gate's Python exactly as the image does (the removal of the
    loader variables by the static busybox is the container tests' to show)."""
    text = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    m = re.search(r"^ENTRYPOINT (\[.*\])$", text, re.MULTILINE)
    argv = json.loads(m.group(1)) if m else []
    start = argv.index("/opt/venv/bin/python") + 1 if "/opt/venv/bin/python" in argv else 1
    return [a for a in argv[start:-1] if a.startswith("-")]


#: `python <flags> entrypoint.py`, as the image's ENTRYPOINT runs it.
ENTRYPOINT_FLAGS = _entrypoint_flags()
#: The same Action run outside the image (`gatekeeper action`): its PATH is not held to the image's, so a test
#: may put the tools the image ships first on PATH (Node 22 for OIDC). Everything else is the same run.
CLI_OUTSIDE_IMAGE = [sys.executable, "-I", "-m", "gatekeeper", "action"]
#: Runs a script and writes its own peak RSS (KiB) to $GK_PEAK_RSS_FILE when it exits.
PEAK_RSS_WRAPPER = Path(__file__).resolve().parent / "peak_rss.py"
#: Where GITHUB_API_URL points by default: a closed loopback port, so nothing ever reaches the internet.
DEAD_API_URL = "http://127.0.0.1:9"
#: The gate and the two actions an isolated publishing job may use, pinned by full commit SHA (issue 21).
GATE_SHA = "0123456789abcdef0123456789abcdef01234567"
ACTION_REF = f"OWNER/npm-gatekeeper@{GATE_SHA}"
CHECKOUT_REF = "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8"
DOWNLOAD_REF = "actions/download-artifact@634f93cb2916e3fdff6788551b99b062d0335ce0"

#: The default release workflow: an isolated publishing job (checkout + the gate, nothing else).
DEFAULT_WORKFLOW = f"""\
name: Release
on:
  push:
    branches: [main]
permissions:
  contents: read
  checks: read
  actions: read
  statuses: read
jobs:
  release:
    runs-on: ubuntu-latest
    steps:
      - uses: {CHECKOUT_REF} # v5.0.0
        with:
          persist-credentials: false
      - uses: {ACTION_REF} # v1
        with:
          npm-token: ${{{{ secrets.NPM_TOKEN }}}}
"""

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Release Bot",
    "GIT_AUTHOR_EMAIL": "release-bot@example.test",
    "GIT_COMMITTER_NAME": "Release Bot",
    "GIT_COMMITTER_EMAIL": "release-bot@example.test",
}


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a hermetic config; returns stdout (stripped)."""
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}:\n{proc.stderr}")
    return proc.stdout.strip()


def head_sha(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


def commit_all(repo: Path, message: str) -> str:
    """Stage everything and commit; returns the new HEAD sha."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return head_sha(repo)


def make_package_repo(
    path: Path,
    name: str = "demo-pkg",
    version: str = "1.0.0",
    scripts: Mapping[str, str] | None = None,
    extra_files: Mapping[str, str | bytes] | None = None,
    workflow: str | None = DEFAULT_WORKFLOW,
    *,
    manifest: Mapping[str, Any] | None = None,
) -> Path:
    """Create a git repo at `path` holding npm package `name@version`; returns `path`.

    `scripts` become package.json scripts, `manifest` entries are merged into package.json,
    `extra_files` (relative path -> content) are written last (they may replace defaults), and
    `workflow` is `.github/workflows/release.yml` (None: no workflow)."""
    path.mkdir(parents=True, exist_ok=True)
    if any(path.iterdir()):
        raise FileExistsError(f"{path} is not empty")
    pkg: dict[str, Any] = {
        "name": name,
        "version": version,
        "description": f"Test package {name}",
        "main": "index.js",
        "license": "MIT",
        "scripts": dict(scripts) if scripts is not None else {"test": "node -e \"require('./index.js')\""},
    }
    pkg.update(manifest or {})
    files: dict[str, str | bytes] = {
        "package.json": json.dumps(pkg, indent=2) + "\n",
        "index.js": (
            f"'use strict';\nmodule.exports = function hello() {{\n  return 'hello from {name}@{version}';\n}};\n"
        ),
        "README.md": f"# {name}\n\nA package made by the npm-gatekeeper tests.\n",
        ".gitignore": "node_modules/\n",
    }
    if workflow is not None:
        files[".github/workflows/release.yml"] = workflow
    files.update(extra_files or {})
    for rel, content in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", GIT_ENV["GIT_AUTHOR_NAME"])
    git(path, "config", "user.email", GIT_ENV["GIT_AUTHOR_EMAIL"])
    git(path, "config", "commit.gpgsign", "false")
    commit_all(path, f"Release {name}@{version}")
    return path


# --------------------------------------------------------------------------------------------------
# running the action


class ActionTimeout(AssertionError):
    """The action did not finish within the timeout (it was killed)."""


@dataclass
class WorkflowCommand:
    """A `::name key=value,...::message` line from stdout (properties/message un-escaped)."""

    name: str
    properties: dict[str, str]
    message: str


@dataclass
class ActionResult:
    """What one action run left behind."""

    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    report: Any | None
    tmpdir: Path  # TMPDIR of the run (leftovers stay for inspection)
    run_dir: Path  # event.json, file_commands/, tmp/
    workspace: Path
    home: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)
    wall: float = 0.0  # seconds from start to exit
    peak_rss_kib: int | None = None  # the action process's own peak RSS (measure=True)

    @property
    def commands(self) -> list[WorkflowCommand]:
        """Workflow commands printed on stdout, in order."""
        return parse_workflow_commands(self.stdout)

    @property
    def masks(self) -> list[str]:
        """Values the action asked the runner to mask."""
        return [c.message for c in self.commands if c.name == "add-mask"]

    def annotations(self, kind: str | None = None) -> list[WorkflowCommand]:
        """`error` / `warning` / `notice` commands (all three if kind is None)."""
        kinds = (kind,) if kind else ("error", "warning", "notice")
        return [c for c in self.commands if c.name in kinds]

    def describe(self) -> str:
        """Everything useful for an assertion message."""
        return (
            f"exit {self.returncode}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}\n"
            f"--- outputs ---\n{json.dumps(self.outputs, indent=2)}"
        )


def _unescape(value: str, prop: bool) -> str:
    value = value.replace("%0D", "\r").replace("%0A", "\n")
    if prop:
        value = value.replace("%3A", ":").replace("%2C", ",")
    return value.replace("%25", "%")


def parse_workflow_commands(stdout: str) -> list[WorkflowCommand]:
    """Parse `::cmd props::message` lines as the runner does."""
    out = []
    for line in stdout.splitlines():
        m = re.match(r"^::([A-Za-z][\w-]*)(?: ([^:]*))?::(.*)$", line)
        if not m:
            continue
        props: dict[str, str] = {}
        for part in (m.group(2) or "").split(","):
            if "=" in part:
                k, v = part.split("=", 1)
                props[k.strip()] = _unescape(v, prop=True)
        out.append(WorkflowCommand(m.group(1), props, _unescape(m.group(3), prop=False)))
    return out


def parse_github_output(text: str) -> dict[str, str]:
    """Parse a GITHUB_OUTPUT file (`name=value` and `name<<DELIM` ... `DELIM`); strict like the runner."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r")
        i += 1
        if not line:
            continue
        heredoc = re.match(r"^([^=]+?)<<(.+)$", line)
        eq = line.find("=")
        if heredoc and (eq < 0 or eq > line.find("<<")):
            name, delim = heredoc.group(1), heredoc.group(2)
            body: list[str] = []
            while True:
                if i >= len(lines):
                    raise ValueError(f"GITHUB_OUTPUT: matching delimiter not found for {name!r} ({delim!r})")
                current = lines[i].rstrip("\r")
                i += 1
                if current == delim:
                    break
                body.append(current)
            outputs[name] = "\n".join(body)
        elif eq > 0:
            outputs[line[:eq]] = line[eq + 1 :]
        else:
            raise ValueError(f"GITHUB_OUTPUT: invalid line {line!r}")
    return outputs


def _ref_parts(ref: str) -> tuple[str, str]:
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag"), ("refs/pull/", "branch")):
        if ref.startswith(prefix):
            return ref[len(prefix) :], kind
    return ref, "branch"


def build_env(
    workspace: Path,
    env: Mapping[str, str],
    home: Path,
    run_dir: Path,
    inputs: Mapping[str, str] | None = None,
    input_defaults: bool = True,
) -> dict[str, str]:
    """The environment the runner gives a container action, from scratch (see `run_action`)."""
    files = run_dir / "file_commands"
    files.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / "tmp"
    tmp.mkdir(exist_ok=True)
    repository = env.get("GITHUB_REPOSITORY", "acme/widget")
    ref = env.get("GITHUB_REF", "refs/heads/main")
    ref_name, ref_type = _ref_parts(ref)
    base: dict[str, str] = {
        "PATH": IMAGE_PATH,  # the image's ENV PATH (the runner does not pass its own PATH to a container action)
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": str(tmp),
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(run_dir / "event.json"),
        "GITHUB_OUTPUT": str(files / "set_output"),
        "GITHUB_STEP_SUMMARY": str(files / "step_summary"),
        "GITHUB_ENV": str(files / "set_env"),
        "GITHUB_PATH": str(files / "add_path"),
        "GITHUB_STATE": str(files / "save_state"),
        "GITHUB_REPOSITORY": repository,
        "GITHUB_REPOSITORY_OWNER": repository.split("/", 1)[0],
        "GITHUB_REF": ref,
        "GITHUB_REF_NAME": ref_name,
        "GITHUB_REF_TYPE": ref_type,
        "GITHUB_SHA": head_sha(workspace) if (workspace / ".git").exists() else "0" * 40,
        "GITHUB_API_URL": DEAD_API_URL,
        "GITHUB_SERVER_URL": DEAD_API_URL,
        "GITHUB_RUN_ID": "4242",
        "GITHUB_RUN_NUMBER": "7",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_JOB": "release",
        "GITHUB_WORKFLOW": "Release",
        "GITHUB_WORKFLOW_REF": f"{repository}/.github/workflows/release.yml@{ref}",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_ACTION": "__OWNER_npm-gatekeeper",
        "GITHUB_ACTION_REPOSITORY": "",
        "RUNNER_NAME": "GitHub Actions 2",
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "X64",
    }
    if os.environ.get("GATEKEEPER_VERIFIER_MODULES"):  # the pinned provenance verifier (tests/_support/verifier.py)
        base["GATEKEEPER_VERIFIER_MODULES"] = os.environ["GATEKEEPER_VERIFIER_MODULES"]
    base.update(env)
    # the commit the workflow file was read from (the runner sets it; for a push it is GITHUB_SHA)
    base.setdefault("GITHUB_WORKFLOW_SHA", head_sha(workspace) if (workspace / ".git").exists() else base["GITHUB_SHA"])
    for name, default in INPUT_DEFAULTS.items():
        # the runner passes every declared input; one the workflow did not set gets its action.yml default
        base.setdefault(env_name(name), default if input_defaults else "")
    for name, value in (inputs or {}).items():
        if name not in INPUT_DEFAULTS:
            raise ValueError(f"unknown input {name!r}; declared: {', '.join(INPUT_DEFAULTS)}")
        base[env_name(name)] = value
    for key in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STATE"):
        Path(base[key]).touch()
    return base


def run_action(
    workspace: Path,
    env: Mapping[str, str] | None = None,
    event: Mapping[str, Any] | None = None,
    home: Path | None = None,
    timeout: float = 120,
    *,
    inputs: Mapping[str, str] | None = None,
    input_defaults: bool = True,
    argv: list[str] | None = None,
    measure: bool = False,
    during: Callable[[subprocess.Popen[str]], None] | None = None,
) -> ActionResult:
    """Run the action like the runner runs a container action and collect what it left.

    `env` adds or overrides variables (e.g. `GITHUB_API_URL`, `GITHUB_REPOSITORY`, `GITHUB_REF`,
    `GITHUB_EVENT_NAME`, `INPUT_NPM-TOKEN`); `inputs` sets inputs by name (`{"npm-token": t}`);
    every declared input is present: unset ones get their action.yml default like the runner gives
    them (`input_defaults=False`: empty, as `with: {x: ''}` gives). `argv` replaces
    `[python, entrypoint.py]` (only the harness's own tests use it). `measure=True` records the
    action's peak RSS (`peak_rss_kib`); `during(proc)` runs in a thread while the action runs (e.g. to
    send it SIGTERM at the right moment)."""
    workspace = Path(workspace).resolve()
    # beside HOME or else the workspace (in tests: pytest's tmp_path, which pytest prunes), never inside it
    run_dir = Path(tempfile.mkdtemp(prefix="gk-run-", dir=Path(home).parent if home is not None else workspace.parent))
    if home is None:
        home = run_dir / "home"
        home.mkdir()
    full_env = build_env(workspace, env or {}, Path(home), run_dir, inputs, input_defaults)
    Path(full_env["GITHUB_EVENT_PATH"]).write_text(json.dumps(dict(event or {}), indent=2), encoding="utf-8")
    cmd = argv or [sys.executable, *ENTRYPOINT_FLAGS, str(ENTRYPOINT)]
    rss_file = run_dir / "peak-rss-kib"
    if measure:
        flags = [a for a in cmd[1:] if a.startswith("-")]
        cmd = [cmd[0], *flags, str(PEAK_RSS_WRAPPER), *cmd[1 + len(flags) :]]
        full_env["GK_PEAK_RSS_FILE"] = str(rss_file)
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=workspace,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    helper = None
    if during is not None:
        helper = threading.Thread(target=during, args=(proc,), daemon=True)
        helper.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        raise ActionTimeout(
            f"action did not finish in {timeout}s\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        ) from None
    wall = time.monotonic() - started
    if helper is not None:
        helper.join(timeout=10)
    peak = None
    if measure and rss_file.exists():
        peak = int(rss_file.read_text().strip() or 0)
        rss_file.unlink()
    outputs = parse_github_output(Path(full_env["GITHUB_OUTPUT"]).read_text(encoding="utf-8"))
    summary = Path(full_env["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    report = None
    if outputs.get("report"):
        path = Path(outputs["report"])
        path = path if path.is_absolute() else workspace / path
        if path.exists():
            report = json.loads(path.read_text(encoding="utf-8"))
    return ActionResult(
        proc.returncode,
        stdout,
        stderr,
        outputs,
        summary,
        report,
        Path(full_env["TMPDIR"]),
        run_dir,
        workspace,
        Path(home),
        full_env,
        wall,
        peak,
    )


# --------------------------------------------------------------------------------------------------
# leak detection


def secret_forms(secret: str) -> list[str]:
    """The secret and the forms it may hide in: base64 (any alignment, std/url-safe), URL-quoted."""
    if len(secret) < 8:
        raise ValueError("secret too short to search for reliably (need 8+ chars)")
    raw = secret.encode()
    forms = {secret, urllib.parse.quote(secret, safe="")}
    for k in range(3):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            full = enc(b"\0" * k + raw).decode().rstrip("=")
            start = 4 if k else 0  # chars mixing prefix bytes
            end = len(full) - (len(full) % 4 or 4) if (k + len(raw)) % 3 else len(full)
            core = full[start:end]
            if len(core) >= 8:
                forms.add(core)
    return sorted(forms, key=len, reverse=True)


def _search(data: bytes, forms: list[str]) -> str | None:
    for form in forms:
        if form.encode() in data:
            return form
    return None


def _git_objects(repo: Path) -> bytes:
    """Every object (reachable or not, loose or packed) of a git repo, concatenated."""
    proc = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"],
        cwd=repo,
        capture_output=True,
        env={**os.environ, **GIT_ENV},
        check=False,
    )
    return proc.stdout


def find_leaks(result: ActionResult, secret: str | Any, extra_paths: Iterable[Path] = ()) -> list[str]:
    """Where the secret shows up (empty list: nowhere). `::add-mask::<secret>` lines are allowed."""
    value = secret.reveal() if hasattr(secret, "reveal") else str(secret)
    forms = secret_forms(value)
    found: list[str] = []
    stdout_lines = [ln for ln in result.stdout.splitlines() if not ln.startswith("::add-mask::")]
    texts = {
        "stdout": "\n".join(stdout_lines),
        "stderr": result.stderr,
        "summary": result.summary,
        "outputs": json.dumps(result.outputs),
        "report": json.dumps(result.report) if result.report is not None else "",
    }
    for where, text in texts.items():
        hit = _search(text.encode(), forms)
        if hit:
            found.append(f"{where} (as {'the secret' if hit == value else 'an encoded form'})")
    npm_dirs = [Path(result.env[k]) for k in ("TMPDIR", "HOME") if result.env.get(k)]
    npm_dirs += [result.home / ".npm", result.home / ".npm" / "_logs"]  # npm's default cache and logs
    roots = [result.run_dir, result.workspace, result.home, *npm_dirs, *map(Path, extra_paths)]
    seen: set[Path] = set()
    for root in roots:
        if not root.exists():
            continue
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        for path in paths:
            real = path.resolve()
            if real in seen:
                continue
            seen.add(real)
            try:
                data = path.read_bytes()
            except OSError:
                continue
            hit = _search(data, forms)
            if hit is None and data[:2] == b"\x1f\x8b":  # .tgz / .gz: look inside too
                try:
                    hit = _search(gzip.decompress(data), forms)
                except (OSError, EOFError):
                    hit = None
            if hit:
                found.append(f"file {path}")
        if (root / ".git").exists():
            hit = _search(_git_objects(root), forms)
            if hit:
                found.append(f"git objects of {root}")
    return found


def assert_no_leak(result: ActionResult, secret: str | Any, extra_paths: Iterable[Path] = ()) -> None:
    """Fail (listing every place) if the secret or its base64 form was left anywhere."""
    leaks = find_leaks(result, secret, extra_paths)
    assert not leaks, "secret leaked to: " + "; ".join(leaks)
