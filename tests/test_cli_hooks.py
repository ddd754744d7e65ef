"""The CLI hooks the semantic-release plugin needs: gate selection, pack-version staging, kept tarball, text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gatekeeper._internal.npm import integrity_of

ROOT = Path(__file__).resolve().parent.parent


def _gk(ws: Path, *args: str, tmp: Path, registry: str = "http://127.0.0.1:9/") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "NPM_", "NODE_AUTH"))}
    env.update(PYTHONPATH=str(ROOT), TMPDIR=str(tmp), HOME=str(tmp))
    cmd = [sys.executable, "-m", "gatekeeper", *args, "--registry", registry]
    return subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_pack_version_gates_and_keeps_a_tarball_of_that_version_without_touching_package_json(
    package_repo, verdaccio, tmp_path: Path
) -> None:
    ws = package_repo(name=verdaccio.unique("hook-pkg"), version="0.0.0-development")
    before = (ws / "package.json").read_bytes()
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    res = _gk(
        ws, "check", "--gates", "branch", "--pack-version", "2.3.0", "--pack-destination", str(out),
        "--report", str(report), "--format", "text", tmp=tmp_path, registry=verdaccio.url,
    )  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr  # outside Actions: not-in-ci
    data = json.loads(report.read_text())
    name = data["package"]["name"]
    assert data["package"] == {"name": name, "version": "2.3.0"}
    assert data["gates"].pop("branch") == "fail"
    assert set(data["gates"]) >= {"green-build", "credential", "diff"}
    assert set(data["gates"].values()) == {"skipped"}, data["gates"]
    assert (ws / "package.json").read_bytes() == before
    [tgz] = list(out.glob("*.tgz"))
    assert tgz.name == f"{name}-2.3.0.tgz"
    assert integrity_of(tgz.read_bytes())[0] == data["publish"]["integrity"]
    # text format: no Markdown table, one line per gate and finding
    assert res.stdout.startswith(f"npm-gatekeeper: {name}@2.3.0 blocked - NOT published")
    assert "  gate diff: skipped" in res.stdout and "BLOCK not-in-ci" in res.stdout and "| Gate |" not in res.stdout
    # the same bytes as packing after `npm version` (what the plugin's prepare compares)
    subprocess.run(["npm", "version", "2.3.0", "--no-git-tag-version", "--ignore-scripts"], cwd=ws, check=True,
                   capture_output=True)  # fmt: skip
    dry = json.loads(subprocess.run(["npm", "pack", "--dry-run", "--json", "--ignore-scripts"], cwd=ws, check=True,
                                    capture_output=True, text=True).stdout)  # fmt: skip
    assert dry[0]["integrity"] == data["publish"]["integrity"]


def test_unknown_gate_name_is_a_configuration_error(package_repo, tmp_path: Path) -> None:
    ws = package_repo(name="hook-pkg2")
    res = _gk(ws, "check", "--gates", "brnach", tmp=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "no gate named 'brnach'" in res.stderr + res.stdout


def test_pack_version_must_be_semver(package_repo, tmp_path: Path) -> None:
    ws = package_repo(name="hook-pkg3")
    res = _gk(ws, "check", "--pack-version=1.0; touch x", tmp=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "not a semantic version" in res.stderr + res.stdout


def test_pack_version_packs_with_npm_in_a_pnpm_repository_unless_another_tool_is_asked_for(
    package_repo, verdaccio, tmp_path: Path
) -> None:
    """semantic-release's `--pack-version` packs with npm (issue 24): `auto` in a repository with pnpm-lock.yaml
    keeps npm, as before the `package-manager` input existed; asking for pnpm with it is a clear error (exit 2)."""
    ws = package_repo(name=verdaccio.unique("hook-pkg4"))
    (ws / "pnpm-lock.yaml").write_text("lockfileVersion: '9.0'\n")
    res = _gk(ws, "check", "--pack-version", "2.0.0", "--package-manager", "pnpm", tmp=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "packs with npm only" in res.stderr + res.stdout and "Nothing was published" in res.stderr + res.stdout
    report = tmp_path / "report.json"
    res = _gk(
        ws, "check", "--gates", "branch", "--pack-version", "2.0.0", "--report", str(report), tmp=tmp_path,
        registry=verdaccio.url,
    )  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr  # outside Actions: not-in-ci; packed all the same
    assert json.loads(report.read_text())["publish"]["packed_by"].startswith("npm ")
