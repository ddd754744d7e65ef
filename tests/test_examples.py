"""The copy-paste workflows in examples/: least privilege, pinned actions, and clean under the linters.

The linters (actionlint, zizmor, check-jsonschema) run when installed: in the project venv, in the lint
venv that scripts/lint.sh keeps (`.cache/lint-venv`, or `$GATEKEEPER_CACHE/lint-venv`), or on PATH. The
structural checks below always run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
WORKFLOWS = sorted(EXAMPLES.glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def tool(name: str) -> str | None:
    """The linter from this venv, PATH, or scripts/lint.sh's venv; None when not installed."""
    lint_venv = Path(os.environ.get("GATEKEEPER_CACHE") or ROOT / ".cache") / "lint-venv" / "bin"
    for folder in (Path(sys.executable).parent, lint_venv):
        if (folder / name).is_file():
            return str(folder / name)
    return shutil.which(name)


def test_both_examples_exist() -> None:
    assert {p.name for p in WORKFLOWS} == {
        "release.yml",
        "pr-guard.yml",
        "watch.yml",
        "watch-matrix.yml",
        "release-reviewed.yml",
        "release-monorepo.yml",
    }


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_full_sha(path: Path) -> None:
    uses = re.findall(r"^\s*-?\s*uses:\s*(\S+)", path.read_text(encoding="utf-8"), re.M)
    assert uses
    for ref in uses:
        assert PINNED.match(ref), f"{path.name}: {ref} is not pinned to a full commit SHA"


def test_release_permissions_are_least_privilege() -> None:
    wf = load("release.yml")
    assert wf["permissions"] == {}
    assert list(wf["on"]) == ["push"]
    jobs = wf["jobs"]
    assert jobs["test"]["permissions"] == {"contents": "read"}
    release = jobs["release"]
    assert release["needs"] == "test"
    assert release["permissions"] == {
        "contents": "write",
        "checks": "read",
        "statuses": "read",
        "actions": "read",
        "id-token": "write",
    }
    [gate] = [s for s in release["steps"] if "npm-gatekeeper" in s.get("uses", "")]
    # OIDC trusted publishing is the recommended path: no long-lived npm token in the workflow
    assert "npm-token" not in gate.get("with", {})
    assert release["environment"] == "npm"


def test_reviewed_release_has_two_jobs_bound_by_integrity() -> None:
    wf = load("release-reviewed.yml")
    assert wf["permissions"] == {}
    jobs = wf["jobs"]
    check, publish = jobs["check"], jobs["publish"]
    [gate] = [s for s in check["steps"] if "npm-gatekeeper" in s.get("uses", "")]
    assert gate["with"] == {"mode": "check"}, "the check job holds no npm token"
    assert check["outputs"]["integrity"] == "${{ steps.gate.outputs.integrity }}"
    assert publish["needs"] == "check" and publish["environment"] == "npm-release"
    [gate] = [s for s in publish["steps"] if "npm-gatekeeper" in s.get("uses", "")]
    assert gate["with"]["approved-integrity"] == "${{ needs.check.outputs.integrity }}"
    assert gate["with"]["npm-token"] == "${{ secrets.NPM_TOKEN }}"
    for job in (check, publish):
        [co] = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@")]
        assert co["with"]["fetch-depth"] == 0, "the tags find the trusted policy"
        assert "id-token" not in job["permissions"]


def test_pr_guard_never_checks_out_the_head() -> None:
    wf = load("pr-guard.yml")
    assert wf["permissions"] == {}
    assert list(wf["on"]) == ["pull_request_target"]
    assert "labeled" in wf["on"]["pull_request_target"]["types"]
    [job] = wf["jobs"].values()
    assert job["permissions"] == {"contents": "read", "pull-requests": "write", "issues": "read"}
    for step in job["steps"]:
        if step.get("uses", "").startswith("actions/checkout@"):
            assert "ref" not in step.get("with", {}), "pr-guard must check out the base, never the head"
            assert step["with"]["persist-credentials"] is False
        assert "run" not in step, "pr-guard runs no commands (no PR code)"
    [gate] = [s for s in job["steps"] if "npm-gatekeeper" in s.get("uses", "")]
    assert gate["with"] == {"mode": "pull-request"}


@pytest.mark.parametrize("name", ["watch.yml", "watch-matrix.yml"])
def test_watch_is_scheduled_with_least_privilege(name: str) -> None:
    wf = load(name)
    assert wf["permissions"] == {}
    assert "schedule" in wf["on"] and wf["on"]["schedule"][0]["cron"]
    [job] = wf["jobs"].values()
    assert job["permissions"] == {"contents": "read", "issues": "write"}
    [gate] = [s for s in job["steps"] if "npm-gatekeeper" in s.get("uses", "")]
    assert gate["with"]["mode"] == "watch"
    assert "npm-token" not in gate["with"]  # a public package needs no npm credential at all
    for step in job["steps"]:
        assert "run" not in step
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_watch_matrix_spreads_shards_without_cancelling_them() -> None:
    job = load("watch-matrix.yml")["jobs"]["watch"]
    assert job["strategy"]["fail-fast"] is False and len(job["strategy"]["matrix"]["shard"]) > 1


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=EXAMPLES, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("actionlint", ["-no-color"]),
        ("zizmor", ["--offline", "--no-progress", "--persona=regular"]),
        ("check-jsonschema", ["--builtin-schema", "vendor.github-workflows"]),
    ],
)
def test_linters_are_clean(name: str, args: list[str]) -> None:
    exe = tool(name)
    if exe is None:
        pytest.skip(f"{name} is not installed (bash scripts/lint.sh installs it into .cache/lint-venv)")
    proc = _run([exe, *args, *(p.name for p in WORKFLOWS)])
    assert proc.returncode == 0, f"{name}:\n{proc.stdout}\n{proc.stderr}"


def test_monorepo_release_gates_the_changesets_plan_in_an_isolated_job() -> None:
    """Issue 24: pack -> gate -> publish; the plan crosses jobs as an artifact; no credential where pnpm runs."""
    wf = load("release-monorepo.yml")
    assert wf["permissions"] == {}
    jobs = wf["jobs"]
    assert jobs["pack"]["permissions"] == {"contents": "read"} and jobs["pack"]["needs"] == "test"
    assert any("changeset pack --out-dir changeset-pack" in s.get("run", "") for s in jobs["pack"]["steps"])
    publish = jobs["publish"]
    assert publish["needs"] == "pack" and publish["environment"] == "npm"
    assert publish["permissions"]["id-token"] == "write"
    checkout, download, gate = publish["steps"]
    assert checkout["with"]["persist-credentials"] is False
    assert download["with"] == {"name": "changeset-pack", "path": "changeset-pack"}
    assert gate["with"] == {"packages": "changesets", "changesets-plan": "changeset-pack/publish-plan.json"}
    assert "npm-token" not in gate["with"]
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert set(gate["with"]) <= set(action["inputs"])
    assert "published-packages" in action["outputs"]
