"""Subprocess plumbing: a clean environment (no credentials), bounded runs, and cancellation.

Children run in their own process group; a timeout or a cancellation (SIGTERM/SIGINT, see
`cancel_on_signals`) stops the whole group (SIGTERM, then SIGKILL) before the error propagates.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from gatekeeper._internal import hostenv

#: Variables that may carry a credential: never passed to child processes.
SECRET_VARS = ("NODE_AUTH_TOKEN", "NPM_TOKEN", "GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_RUNTIME_TOKEN")

#: The only variables a child inherits (issue 21: an allowlist, never a copy of the gate's environment).
CHILD_VARS = frozenset(
    {"HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "TMPDIR", "USER", "LOGNAME", "CI"}
)
#: ... and those with these prefixes: the run's description (npm's provenance and OIDC read them).
CHILD_PREFIXES = ("GITHUB_", "RUNNER_")


def child_env(extra: Mapping[str, str] | None = None, keep_oidc: bool = False) -> dict[str, str]:
    """A child's environment built from an allowlist: the locale, HOME, TMPDIR, CI and the run's `GITHUB_*`/
    `RUNNER_*` description, PATH (the image's in the image), never a credential, an input, an npm/git/python/
    node/proxy setting or a loader variable; npm's notifier, fund and audit off; then `extra`."""
    env: dict[str, str] = {}
    for k, v in os.environ.items():
        if k in SECRET_VARS or hostenv.is_untrusted(k):
            continue
        if k in CHILD_VARS or k.startswith(CHILD_PREFIXES) or (keep_oidc and k.startswith("ACTIONS_ID_TOKEN_REQUEST_")):
            env[k] = v
    env["PATH"] = os.environ.get("PATH", os.defpath)
    env["NPM_CONFIG_UPDATE_NOTIFIER"] = "false"
    env["NPM_CONFIG_FUND"] = "false"
    env["NPM_CONFIG_AUDIT"] = "false"
    if extra:
        env.update(extra)
    return env


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


class Cancelled(BaseException):  # like KeyboardInterrupt: not an Exception, never swallowed
    """The run got SIGTERM/SIGINT (a cancelled job): stop, clean up, report, exit non-zero."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


class Signals:
    """What `cancel_on_signals` saw; `disarm()` makes later signals no-ops (e.g. while reporting)."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.armed = True

    def disarm(self) -> None:
        self.armed = False


@contextlib.contextmanager
def cancel_on_signals() -> Iterator[Signals]:
    """Turn the first SIGTERM/SIGINT into `Cancelled` in the main thread; later ones are ignored (so the
    clean-up finishes). Handlers are restored afterwards. A no-op outside the main thread."""
    previous: dict[int, Any] = {}
    state = Signals()

    def handler(signum: int, _frame: FrameType | None) -> None:
        first = not state.received
        state.received.append(signum)
        if first and state.armed:
            raise Cancelled(signum)

    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread
        previous.clear()
    try:
        yield state
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def stop_group(proc: subprocess.Popen[Any], grace: float = 3.0) -> None:
    """SIGTERM the child's process group, then SIGKILL it after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group (the leader may be gone)


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
    started: list[int] | None = None,
) -> Completed:
    """Run a command in its own process group, capturing text output.

    Raises TimeoutExpired/OSError (and `Cancelled`) to the caller after stopping the whole group.
    `started`, if given, gets the child's pid once it runs (to tell "never started" from "was running")."""
    return finish(start(argv, cwd=cwd, env=env, started=started), timeout)


def start(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    started: list[int] | None = None,
) -> subprocess.Popen[str]:
    """Start a command in its own process group (its output piped); `finish` waits for it. A caller that does
    not reach `finish` must `stop_group` it."""
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    if started is not None:
        started.append(proc.pid)
    return proc


def finish(proc: subprocess.Popen[str], timeout: float) -> Completed:
    """Wait for a started command (at most `timeout` more seconds) and collect its output; on a timeout or
    any other exception (`Cancelled` too) its whole group is stopped before the error propagates."""
    try:
        stdout, stderr = proc.communicate(timeout=max(timeout, 0.0))
    except BaseException:
        stop_group(proc)
        with contextlib.suppress(Exception):
            proc.communicate(timeout=2)
        raise
    return Completed(proc.returncode, stdout, stderr)


def output_tail(path: Path, cap: int) -> str:
    """The last `cap` bytes of a child's output file, decoded leniently: bounded memory whatever the child printed.
    Raises OSError when the file cannot be read."""
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - cap))
        return fh.read().decode("utf-8", "replace")
