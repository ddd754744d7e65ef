"""The semantic-release plugin installs as users install plugins (issue 20, item 8): the commands of
integrations/semantic-release/README.md#install, run with the real npm — a tarball packed at a checkout,
`npm install --save-dev` of it (a `file:` spec and an integrity in package-lock.json), then a clean
`npm ci` — give a real directory in node_modules (no symlink into a second checkout) that Node loads
with every plugin step exported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "integrations" / "semantic-release"
STEPS = ["fail", "prepare", "publish", "success", "verifyConditions", "verifyRelease"]

pytestmark = pytest.mark.skipif(shutil.which("npm") is None or shutil.which("node") is None, reason="needs npm")


def npm(args: list[str], cwd: Path, home: Path) -> str:
    """The real npm with a private cache and config, offline (the plugin has no dependencies), no logs."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "npm_config_cache": str(home / "cache"),
        "npm_config_logs_dir": str(home / "logs"),
        "npm_config_logs_max": "0",
        "npm_config_update_notifier": "false",
        "npm_config_userconfig": str(home / "npmrc"),
        "npm_config_offline": "true",
        "npm_config_audit": "false",
        "npm_config_fund": "false",
        # semantic-release (the peer) is the user's own dependency: not fetched here
        "npm_config_legacy_peer_deps": "true",
    }
    proc = subprocess.run(["npm", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, f"npm {args}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


def project(tmp_path: Path) -> tuple[Path, Path]:
    home, proj = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    proj.mkdir()
    (proj / "package.json").write_text(json.dumps({"name": "user-project", "version": "1.0.0", "private": True}))
    return proj, home


def loaded_steps(proj: Path) -> list[str]:
    script = "import('@npm-gatekeeper/semantic-release').then(m => console.log(JSON.stringify(Object.keys(m))))"
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script], cwd=proj, capture_output=True, text=True, timeout=60, check=True
    )
    return sorted(set(STEPS) & set(json.loads(out.stdout)))


def installed(proj: Path) -> Path:
    path = proj / "node_modules" / "@npm-gatekeeper" / "semantic-release"
    assert path.is_dir() and not path.is_symlink(), "the plugin must be installed, not linked to a checkout"
    return path


def test_the_readme_install_commands_install_and_load_the_plugin(tmp_path: Path) -> None:
    readme = (PLUGIN / "README.md").read_text(encoding="utf-8")
    assert "## Install" in readme and "npm pack --ignore-scripts" in readme and "--save-dev" in readme
    proj, home = project(tmp_path)
    (proj / "vendor").mkdir()
    npm(["pack", "--ignore-scripts", str(PLUGIN), "--pack-destination", "vendor"], proj, home)
    (tarball,) = (proj / "vendor").glob("*.tgz")
    assert tarball.name == "npm-gatekeeper-semantic-release-0.1.0.tgz"  # the name the README gives
    npm(["install", "--save-dev", "--ignore-scripts", f"./vendor/{tarball.name}"], proj, home)
    spec = json.loads((proj / "package.json").read_text())["devDependencies"]["@npm-gatekeeper/semantic-release"]
    assert spec == f"file:vendor/{tarball.name}"
    lock = json.loads((proj / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@npm-gatekeeper/semantic-release"]["integrity"].startswith("sha512-")
    files = sorted(str(p.relative_to(installed(proj))) for p in installed(proj).rglob("*") if p.is_file())
    assert "index.js" in files and "lib/cli.js" in files
    assert not any(f.startswith("test/") for f in files), files  # the plugin's tests stay out of the package
    assert loaded_steps(proj) == STEPS
    shutil.rmtree(proj / "node_modules")
    npm(["ci", "--ignore-scripts"], proj, home)  # what the release job runs
    installed(proj)
    assert loaded_steps(proj) == STEPS


def test_a_checkout_folder_installs_as_a_copy_with_install_links(tmp_path: Path) -> None:
    proj, home = project(tmp_path)
    npm(["install", "--ignore-scripts", "--install-links", str(PLUGIN)], proj, home)
    installed(proj)
    assert loaded_steps(proj) == STEPS
