"""SIGINT/SIGTERM in every CLI subcommand (issue 20, item 4): one line on stderr, exit 2, nothing left behind.

Each subcommand runs as a real process (the installed `gatekeeper` console script) against a registry
and a GitHub API that never answer (the fault proxy's `Hang`), with its own TMPDIR. Once the proxy has
seen the command's first request (it is now stuck on the network, or its npm child is), the signal is
sent to the process alone, as `kill` or a runner's cancel does. Then: exit 2, stderr is one line naming
the signal (no traceback), its TMPDIR is empty and no process it started is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._support.faultproxy import FaultProxy, Hang
from tests._support.tarballs import make_tgz, package_json

GATEKEEPER = Path(sys.executable).with_name("gatekeeper")


@pytest.fixture
def hanging() -> Iterator[FaultProxy]:
    proxy = FaultProxy("http://127.0.0.1:9/").start()  # upstream never reached: every request hangs
    proxy.add(r"", Hang(120))
    try:
        yield proxy
    finally:
        proxy.stop()


def _git(cwd: Path, *argv: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@e"
    return subprocess.run(["git", *argv], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def _setup(command: str, tmp: Path, url: str) -> tuple[list[str], dict[str, str], Path]:
    """argv, env and cwd of `command` with every network call going to the hanging proxy at `url`."""
    work = tmp / "work"
    work.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp / "home"),
        "TMPDIR": str(tmp / "tmpdir"),
        "GITHUB_API_URL": url.rstrip("/"),
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_TOKEN": "ghs_not-a-real-token",
        "GATEKEEPER_REGISTRY_RETRIES": "0",
    }
    (tmp / "home").mkdir()
    (tmp / "tmpdir").mkdir()
    (work / "package.json").write_text(package_json(name="sig-probe", version="1.0.0"), encoding="utf-8")
    if command == "diff":
        # Local tarballs, the dependency tree changed: the diff resolves both trees with a real
        # `npm install --package-lock-only` child, which hangs on the registry when the signal comes.
        old = make_tgz({"package.json": package_json(name="sig-probe", version="1.0.0")}, work / "old.tgz")
        new = make_tgz(
            {"package.json": package_json(name="sig-probe", version="1.1.0", dependencies={"left-pad": "^1.3.0"})},
            work / "new.tgz",
        )
        return [str(new), "--against", str(old), "--registry", url], env, work
    if command == "check":
        return ["--registry", url], env, work
    if command == "watch":
        return ["--registry", url], env, work
    assert command == "pull-request"
    _git(work, "init", "-q", "-b", "main")
    _git(work, "add", "package.json")
    _git(work, "commit", "-qm", "base")
    base = _git(work, "rev-parse", "HEAD")
    (work / "index.js").write_text("module.exports = 1\n", encoding="utf-8")
    _git(work, "add", "index.js")
    _git(work, "commit", "-qm", "head")
    head = _git(work, "rev-parse", "HEAD")
    event = {"number": 1, "pull_request": {"number": 1, "base": {"sha": base, "ref": "main"}, "head": {"sha": head}}}
    (tmp / "event.json").write_text(json.dumps(event), encoding="utf-8")
    env.update(GITHUB_EVENT_NAME="pull_request", GITHUB_EVENT_PATH=str(tmp / "event.json"), GITHUB_WORKSPACE=str(work))
    return ["--registry", url], env, work


def _processes_using(path: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if str(path) in cmd or str(path).encode() in environ:
            found.append(f"{proc.name}: {cmd}")
    return found


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
# `notify --from-report` is retired (issue 21): it reads nothing and exits at once, there is nothing to cancel.
@pytest.mark.parametrize("command", ["diff", "check", "watch", "pull-request"])
def test_a_signal_stops_the_command_with_one_line_and_exit_2(
    command: str, sig: signal.Signals, hanging: FaultProxy, tmp_path: Path
) -> None:
    if command == "diff" and not shutil.which("npm"):
        pytest.skip("npm is not installed")
    args, env, cwd = _setup(command, tmp_path, hanging.url)
    proc = subprocess.Popen(
        [str(GATEKEEPER), command, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 90
        while not hanging.requests and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hanging.requests, f"{command} never reached the network: {proc.communicate(timeout=30)}"
        time.sleep(0.5)  # now it waits on the proxy (or its npm child does)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, (proc.returncode, out, err)
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    if command == "check":  # publish/check report the cancel in their report (stdout) and one stderr line
        assert any(f"Cancelled ({sig.name}) before any upload: nothing was published" in line for line in lines), err
        assert len(lines) == 1, err
    else:
        assert len(lines) == 1, err
        assert lines[0].startswith(f"npm-gatekeeper {command}: cancelled ({sig.name}) before it finished"), err
    leftovers = sorted(p.relative_to(tmp_path) for p in (tmp_path / "tmpdir").rglob("*"))
    assert leftovers == [], leftovers
    assert _processes_using(tmp_path / "tmpdir") == []
