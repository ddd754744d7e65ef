"""Subprocess plumbing: a clean environment (no credentials) and bounded runs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Variables that may carry a credential: never passed to child processes.
SECRET_VARS = ("NODE_AUTH_TOKEN", "NPM_TOKEN", "GITHUB_TOKEN", "GH_TOKEN", "ACTIONS_RUNTIME_TOKEN")


def child_env(extra: Mapping[str, str] | None = None, keep_oidc: bool = False) -> dict[str, str]:
    """The current env minus credentials, inputs and npm config overrides."""
    env: dict[str, str] = {}
    for k, v in os.environ.items():
        if k in SECRET_VARS or k.startswith("INPUT_") or k.lower().startswith("npm_config_"):
            continue
        if k.startswith("ACTIONS_ID_TOKEN_REQUEST_") and not keep_oidc:
            continue
        env[k] = v
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


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> Completed:
    """Run a command, capturing text output; raises TimeoutExpired/OSError to the caller."""
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )
    return Completed(proc.returncode, proc.stdout, proc.stderr)
