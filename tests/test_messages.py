"""Every message true and useful (issue 20, item 5): each test here failed before its fix.

Real parts: the `gatekeeper` entry point in-process (`cli.main`), real tarballs from the registry
(tests/fixtures/tarballs) changed with `mutate`, the real gate and report code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gatekeeper import cli
from gatekeeper._internal.registry import RegistryClient
from gatekeeper._internal.tarball import read_package
from gatekeeper.config import Inputs
from gatekeeper.context import Context, GitHubRun
from gatekeeper.diffing import diff_packages
from gatekeeper.findings import Severity
from gatekeeper.gates import provenance
from gatekeeper.report.text import finding_lines
from gatekeeper.rules.diff import INSTALL_CODE_CHANGED
from gatekeeper.trust.policy import Policy
from tests._support.tarballs import fixture, mutate

PUBLISH_ONLY_FLAGS = ("--tag", "--access", "--dry-run", "--wait-for-checks", "--tarball", "--approved-integrity")


@pytest.fixture
def outside_actions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A maintainer's shell: no GitHub Actions variables, no tokens, in an empty folder."""
    for var in list(__import__("os").environ):
        if var.startswith(("GITHUB_", "INPUT_", "ACTIONS_", "RUNNER_")) or var in (
            "NPM_TOKEN",
            "NODE_AUTH_TOKEN",
            "CI",
        ):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_notify_without_a_report_does_not_say_a_version_stays_published(
    outside_actions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["notify", "--from-report", "missing.json"])
    err = capsys.readouterr().err
    assert code == 2
    assert "stays published" not in err, err
    assert "Nothing was notified" in err and "was removed" in err, err  # retired (issue 21): it reads no file


def test_pull_request_outside_actions_does_not_speak_of_publishing(
    outside_actions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["pull-request", "--format", "text"])
    captured = capsys.readouterr()
    assert code == 2
    assert "pull_request" in captured.err, captured.err
    assert "published" not in (captured.out + captured.err).lower(), captured


def test_local_check_without_a_token_says_why_there_is_no_provenance(outside_actions: Path) -> None:
    ctx = Context(
        inputs=Inputs.from_env({}, {"mode": "check"}),
        env={},
        run=GitHubRun.from_env({}),
        workspace=outside_actions,
        package_dir=outside_actions,
        policy=Policy(),
        registry=RegistryClient("http://127.0.0.1:9/", None),
    )
    plan = provenance.plan(ctx)
    message = provenance.plan_message(plan, "check")
    assert not plan.provenance
    assert "a token publishes" not in plan.reason, plan.reason  # there is no token
    assert "neither OIDC" in plan.reason and "nor an npm token" in plan.reason
    assert "no a " not in message and message.startswith("A publish of this tarball would carry no provenance")


def test_the_dependency_added_fix_is_true_on_a_minor_release(tmp_path: Path) -> None:
    def add_dep(m: dict) -> None:
        m["version"] = "2.2.0"
        m["dependencies"] = {"left-pad": "^1.3.0"}

    policy = Policy()
    new = read_package(mutate(fixture("ms-2.1.3"), tmp_path / "ms-2.2.0.tgz", manifest=add_dep), policy.diff.limits)
    old = read_package(fixture("ms-2.1.2"), policy.diff.limits)
    result = diff_packages(old, new, policy)  # no resolver: the consumer's tree is not resolved here
    lines = finding_lines(result.findings)
    assert any(line.startswith("WARN  dependency-added") for line in lines), lines
    assert not any("release it as a minor version" in line for line in lines), lines


def test_markdown_header_keeps_name_at_version_copyable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    candidate = tmp_path / "ms@2.1.3.tgz"
    candidate.write_bytes(fixture("ms-2.1.3").read_bytes())
    cli.main(["diff", str(candidate), "--against", str(fixture("ms-2.1.2")), "--format", "markdown"])
    out = capsys.readouterr().out
    header = [line for line in out.splitlines() if line.startswith("- candidate:")]
    assert header and "\u200b" not in header[0], header
    assert "ms@2.1.3.tgz" in header[0]


@pytest.mark.parametrize("command", ["watch", "pull-request", "notify"])
def test_help_lists_only_the_flags_the_command_reads(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    out = capsys.readouterr().out
    listed = [flag for flag in PUBLISH_ONLY_FLAGS if f"{flag} " in out or f"{flag}\n" in out]
    assert listed == [], f"`{command} --help` lists publish-only flags {listed}"
    assert "--registry" in out and "--github-token" in out


def test_mode_changes_show_old_and_new_modes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = mutate(fixture("ms-2.1.3"), tmp_path / "ms.tgz", modes={"index.js": 0o755})
    cli.main(["diff", str(new), "--against", str(fixture("ms-2.1.3")), "--format", "text"])
    out = capsys.readouterr().out
    assert "1 mode changed" in out
    assert "m index.js  mode 0644 -> 0755" in out, out


def test_a_rules_fix_is_shown_once_not_once_per_finding() -> None:
    findings = [INSTALL_CODE_CHANGED(f"install script runs src/{i}.cc, which was changed") for i in range(10)]
    findings.insert(3, INSTALL_CODE_CHANGED("a warning", severity=Severity.WARN))
    lines = finding_lines(findings)
    fixes = [line for line in lines if line.lstrip().startswith("fix:")]
    assert len(fixes) == 1, lines
    assert lines.index(fixes[0]) == 10  # after the 10 blocking findings, before the warning
    assert len(lines) == 12


def test_digest_maps_are_summarised_not_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    platforms = [f"@esbuild/p{i}/bin/esbuild" for i in range(23)]

    def hashes(seed: str):
        def edit(m: dict) -> None:
            import hashlib

            m["esbuild.binaryHashes"] = {p: hashlib.sha256(f"{seed}{p}".encode()).hexdigest() for p in platforms}

        return edit

    old = mutate(fixture("esbuild-0.20.2"), tmp_path / "old.tgz", manifest=hashes("old"))
    new = mutate(fixture("esbuild-0.20.2"), tmp_path / "new.tgz", manifest=hashes("new"))
    cli.main(["diff", str(new), "--against", str(old), "--format", "text"])
    out = capsys.readouterr().out
    assert "23 digest values changed" in out, out
    # no line of 170 characters per digest (the header's file paths are as long as the temp dir makes them)
    delta = [line for line in out.splitlines() if not line.startswith(("candidate:", "baseline:"))]
    assert max(len(line) for line in delta) < 140, max(delta, key=len)
    cli.main(["diff", str(new), "--against", str(old), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    (field,) = [f for f in data["delta"]["fields"] if f["field"] == "esbuild.binaryHashes"]
    assert len(field["new"]) == 23  # the JSON keeps every value
