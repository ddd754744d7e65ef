"""`gatekeeper diff`: formats, exit codes, package dirs packed with npm, and a real registry (Verdaccio)."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gatekeeper.modes.diff import add_diff_arguments, run_diff
from tests._support.tarballs import FIXTURES, fixture, mutate, package_json

REPO = Path(__file__).resolve().parent.parent
SARIF_SCHEMA = json.loads((FIXTURES.parent / "sarif-2.1.0-rtm.5.json").read_text())


def cli(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add_diff_arguments(parser)
    args = parser.parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    code = run_diff(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def evil(tmp_path: Path) -> Path:
    """chalk 5.4.0 with a postinstall added and an obfuscated line in its entry file."""

    def edit(doc: dict[str, Any]) -> None:
        doc["scripts"]["postinstall"] = "node setup.js"

    return mutate(
        fixture("chalk-5.4.0"),
        tmp_path / "chalk-evil.tgz",
        manifest=edit,
        files={"setup.js": "require('child_process')\n"},
    )


def test_text_shows_the_delta_and_allows_a_real_release() -> None:
    code, out, _ = cli(str(fixture("semver-7.6.3")), "--against", str(fixture("semver-7.6.2")))
    assert code == 0
    assert "ALLOW" in out and "semver@7.6.3 against semver@7.6.2" in out and "findings: none" in out
    assert "~ package.json" in out and "\n  version: 7.6.2 -> 7.6.3\n" in out


def test_text_blocks_with_findings(evil: Path) -> None:
    code, out, _ = cli(str(evil), "--against", str(fixture("chalk-5.3.0")))
    assert code == 1
    assert "BLOCK (exit 1)" in out and "+ setup.js" in out
    assert "BLOCK lifecycle-script-added package.json:" in out and '"node setup.js"' in out


def test_json_has_the_report_shape(evil: Path) -> None:
    code, out, _ = cli(str(evil), "--against", str(fixture("chalk-5.3.0")), "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["decision"] == "block" and data["gates"] == {"diff": "fail"}
    assert data["package"] == {"name": "chalk", "version": "5.4.0"}
    assert data["previous"]["version"] == "5.3.0" and data["previous"]["reason"] == "--against"
    f = next(f for f in data["findings"] if f["rule"] == "lifecycle-script-added")
    assert {"rule", "severity", "message", "file", "line"} <= set(f) and f["severity"] == "block"
    assert f["file"] == "package.json" and isinstance(f["line"], int)
    delta = data["delta"]
    assert {"path": "setup.js", "status": "added", "old_size": None, "new_size": 25} in delta["files"]
    assert any(c["field"] == "scripts" for c in delta["fields"])


def test_markdown_shows_tables(evil: Path) -> None:
    code, out, _ = cli(str(evil), "--against", str(fixture("chalk-5.3.0")), "--format", "markdown")
    assert code == 1 and out.startswith("## npm-gatekeeper diff: 🛑 block")
    assert "| added | `setup.js` | 25 B |" in out
    assert "| `scripts` / `postinstall` | *(absent)* | `node setup.js` |" in out
    assert "| block | `lifecycle-script-added` |" in out


def test_sarif_validates_against_the_2_1_0_schema(evil: Path) -> None:
    code, out, _ = cli(str(evil), "--against", str(fixture("chalk-5.3.0")), "--format", "sarif")
    log = json.loads(out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    assert code == 1 and log["version"] == "2.1.0"
    run = log["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    res = next(r for r in run["results"] if r["ruleId"] == "lifecycle-script-added")
    assert res["level"] == "error" and rules[res["ruleIndex"]] == "lifecycle-script-added"
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "package.json" and loc["region"]["startLine"] >= 1


def test_sarif_of_a_clean_diff_is_valid_and_empty() -> None:
    code, out, _ = cli(str(fixture("ms-2.1.3")), "--against", str(fixture("ms-2.1.2")), "--format", "sarif")
    log = json.loads(out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    assert code == 0 and log["runs"][0]["results"] == []


def test_policy_overrides_and_approvals_apply(evil: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text("rules:\n  lifecycle-script-added: warn\n  install-script-code-changed: 'off'\n")
    code, out, _ = cli(str(evil), "--against", str(fixture("chalk-5.3.0")), "--policy", str(policy))
    assert code == 0 and "WARN  lifecycle-script-added" in out and "install-script-code-changed" not in out
    # The command is approved by its exact text; the file it runs (new here) by its path.
    policy.write_text("approve:\n  scripts:\n    postinstall: node setup.js\n")
    code, out, _ = cli(str(evil), "--against", str(fixture("chalk-5.3.0")), "--policy", str(policy))
    assert code == 1 and "INFO  approved-change" in out and "BLOCK install-script-code-changed setup.js" in out
    digest = hashlib.sha256(b"require('child_process')\n").hexdigest()
    policy.write_text(
        f"approve:\n  scripts:\n    postinstall: node setup.js\n  files: [{{path: setup.js, sha256: {digest}}}]\n"
    )
    code, out, _ = cli(str(evil), "--against", str(fixture("chalk-5.3.0")), "--policy", str(policy))
    assert code == 0 and out.count("INFO  approved-change") == 2


@pytest.mark.parametrize(
    "argv",
    [["/nonexistent/pkg.tgz"], ["ms-2.1.3.tgz"], ["not a spec!"], ["./pkgs/my-pkg"]],
)
@pytest.mark.parametrize("fmt", ["text", "markdown", "sarif"])
def test_a_mistyped_path_is_no_such_file(argv: list[str], fmt: str) -> None:
    code, out, err = cli(*argv, "--format", fmt)
    assert code == 2 and f"No such file or directory: {argv[0]} (the candidate)." in err
    assert out == ""  # no empty report, no SARIF log that would look clean
    assert err.count("\n") == 1 and "neither a path" not in err


def test_a_mistyped_baseline_suggests_the_close_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ms-2.1.2.tgz").write_bytes(fixture("ms-2.1.2").read_bytes())
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(str(fixture("ms-2.1.3")), "--against", "ms-2.1.1.tgz")
    assert code == 2 and out == ""
    assert "No such file or directory: ms-2.1.1.tgz (the baseline). Did you mean ms-2.1.2.tgz?" in err


def test_errors_in_json_format_are_reported_in_the_report_shape() -> None:
    code, out, _ = cli("/nonexistent/pkg.tgz", "--format", "json")
    data = json.loads(out)
    assert code == 2 and data["gates"] == {"diff": "error"} and "No such file" in data["error"]


def test_bad_policy_exits_2(tmp_path: Path) -> None:
    policy = tmp_path / "p.yml"
    policy.write_text("diff:\n  baseline-tagg: latest\n")
    code, _, err = cli(str(fixture("ms-2.1.3")), "--against", str(fixture("ms-2.1.2")), "--policy", str(policy))
    assert code == 2 and "baseline-tagg" in err
    code, _, err = cli(str(fixture("ms-2.1.3")), "--policy", str(tmp_path / "missing.yml"))
    assert code == 2 and "does not exist" in err


def test_a_hostile_but_readable_candidate_blocks(tmp_path: Path) -> None:
    """A real tarball with an entry npm must never get is a verdict (exit 1), not an error."""
    import tarfile

    evil = tmp_path / "evil.tgz"
    with tarfile.open(evil, "w:gz") as tf:
        data = fixture_manifest("ms-2.1.3")
        info = tarfile.TarInfo("package/package.json")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("package/steal")
        link.type, link.linkname = tarfile.SYMTYPE, "/home/user/.npmrc"
        tf.addfile(link)
    code, out, _ = cli(str(evil), "--against", str(fixture("ms-2.1.2")))
    assert code == 1 and "BLOCK tarball-unsafe" in out and "symlink" in out


def fixture_manifest(name: str) -> bytes:
    import gzip
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(fixture(name).read_bytes()))) as tf:
        member = tf.extractfile("package/package.json")
        assert member is not None
        return member.read()


def write_package(directory: Path, name: str, version: str, **fields: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    doc = json.loads(package_json(**fields))
    doc.update(name=name, version=version)
    (directory / "package.json").write_text(json.dumps(doc, indent=2) + "\n")
    (directory / "index.js").write_text("module.exports = 1\n")
    return directory


def test_directory_candidate_is_packed_without_running_scripts(tmp_path: Path) -> None:
    pkg = write_package(
        tmp_path / "pkg",
        "ms",
        "2.1.3",
        main="index.js",
        scripts={"prepack": "node -e \"require('fs').writeFileSync('RAN','')\""},
    )
    code, out, _ = cli(str(pkg), "--against", str(fixture("ms-2.1.2")), "--format", "json")
    data = json.loads(out)
    assert not (pkg / "RAN").exists()  # --ignore-scripts
    assert data["package"] == {"name": "ms", "version": "2.1.3"}
    assert {"path": "index.js", "status": "changed"}.items() <= next(
        f for f in data["delta"]["files"] if f["path"] == "index.js"
    ).items()
    assert not list(tmp_path.glob("**/*.tgz"))  # packed outside, then removed
    assert code in (0, 1)


def test_sarif_locations_are_relative_to_the_cwd_for_a_directory(tmp_path: Path, monkeypatch) -> None:
    pkg = write_package(tmp_path / "packages" / "x", "ms", "2.1.3", scripts={"postinstall": "node x.js"})
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli("packages/x", "--against", str(fixture("ms-2.1.2")), "--format", "sarif")
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in json.loads(out)["runs"][0]["results"]
    }
    assert code == 1 and "packages/x/package.json" in uris
    assert pkg.is_dir()


def test_cli_entry_point_wires_the_subcommand() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "gatekeeper", "diff", str(fixture("ms-2.1.3")), "--against", str(fixture("ms-2.1.2"))],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ms@2.1.3 against ms@2.1.2" in proc.stdout


# ------------------------------------------------------------------ against a real registry (Verdaccio)


@pytest.fixture(scope="module")
def published(verdaccio, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A package with releases 1.0.0 and 1.1.0 on Verdaccio (1.1.0 adds a file)."""
    name = verdaccio.unique("gk-diff")
    token = verdaccio.add_user(verdaccio.unique("gk-diff-user"), "pw-diff-1")
    root = tmp_path_factory.mktemp("published")
    d1 = write_package(root / "v1", name, "1.0.0")
    verdaccio.publish(d1, token)
    d2 = write_package(root / "v2", name, "1.1.0")
    (d2 / "extra.js").write_text("exports.x = 2\n")
    verdaccio.publish(d2, token)
    return {"name": name, "root": root, "url": verdaccio.url, "registry": verdaccio}


def test_registry_baseline_is_downloaded_and_verified(published: dict[str, Any]) -> None:
    cand = write_package(published["root"] / "v3", published["name"], "1.1.1")
    (cand / "extra.js").write_text("exports.x = 3\n")
    code, out, _ = cli(str(cand), "--registry", published["url"], "--format", "json")
    data = json.loads(out)
    assert code == 0, data
    prev = data["previous"]
    assert prev["version"] == "1.1.0" and prev["integrity_ok"] is True and prev["signature"] == "unavailable"
    assert prev["reason"] == "dist-tag `latest`"
    assert [f["rule"] for f in data["findings"]] == ["baseline-signature-unavailable"]
    assert {"path": "extra.js", "status": "changed", "old_size": 14, "new_size": 14} in data["delta"]["files"]


def test_registry_name_at_version_candidate(published: dict[str, Any]) -> None:
    code, out, _ = cli(f"{published['name']}@1.1.0", "--registry", published["url"])
    assert code == 0 and f"{published['name']}@1.1.0 against {published['name']}@1.0.0" in out
    assert "+ extra.js" in out
    code, out, _ = cli(published["name"], "--against", f"{published['name']}@1.0.0", "--registry", published["url"])
    assert code == 0 and "+ extra.js" in out
    code, _, err = cli(f"{published['name']}@9.9.9", "--registry", published["url"])
    assert code == 2 and "not published" in err


def test_version_already_on_the_registry_blocks(published: dict[str, Any]) -> None:
    cand = write_package(published["root"] / "again", published["name"], "1.1.0")
    code, out, _ = cli(str(cand), "--registry", published["url"])
    assert code == 1 and "BLOCK version-exists" in out and "against " + published["name"] + "@1.0.0" in out


def test_integrity_mismatch_from_the_registry_blocks(published: dict[str, Any]) -> None:
    registry = published["registry"]
    name = published["name"]

    def tamper(doc: dict[str, Any]) -> None:
        doc["versions"]["1.1.0"]["dist"]["integrity"] = "sha512-" + "A" * 86 + "=="

    registry.patch_packument(name, tamper)
    try:
        cand = write_package(published["root"] / "v4", name, "1.1.2")
        code, out, _ = cli(str(cand), "--registry", published["url"], "--format", "json")
    finally:
        registry.clear_patches(name)
    data = json.loads(out)
    assert code == 1
    (f,) = [f for f in data["findings"] if f["rule"] == "baseline-integrity-mismatch"]
    assert f["severity"] == "block" and f"{name}@1.1.0" in f["message"]
    assert data["previous"]["integrity_ok"] is False and data["delta"]["files"] == []


def test_first_release_on_the_registry(published: dict[str, Any], tmp_path: Path) -> None:
    cand = write_package(tmp_path / "new", published["registry"].unique("gk-new"), "0.1.0")
    code, out, _ = cli(str(cand), "--registry", published["url"])
    assert code == 0 and "WARN  first-release" in out and "(nothing: first release)" in out


def test_gate_with_the_real_registry_client(published: dict[str, Any], tmp_path: Path) -> None:
    from gatekeeper._internal.npm import pack
    from gatekeeper._internal.registry import RegistryClient
    from gatekeeper.gates import diff as gate
    from tests.test_diff_rules import gate_ctx

    cand = write_package(published["root"] / "v5", published["name"], "1.2.0")
    (cand / "extra.js").write_text("exports.x = 5\n")
    out = tmp_path / "packed"
    out.mkdir()
    packed = pack(cand, out)
    ctx = gate_ctx(tmp_path, packed.path, RegistryClient(published["url"]))
    findings = gate.check(ctx)
    assert [f.rule for f in findings] == ["baseline-signature-unavailable"]
    assert gate.compute(ctx).baseline_version == "1.1.0"


def test_run_diff_accepts_an_argv_list() -> None:
    out = io.StringIO()
    code = run_diff([str(fixture("ms-2.1.3")), "--against", str(fixture("ms-2.1.2")), "--format", "json"], out=out)
    assert code == 0 and json.loads(out.getvalue())["decision"] == "allow"


def test_entry_npm_installs_over_a_reviewed_file_blocks(tmp_path: Path) -> None:
    """`./install.js` after `package/install.js`: npm (strip: 1) installs it over the reviewed install.js
    (premise checked in tests/test_tarball.py), so the diff names it and blocks."""
    from tests._support.tarballs import Entry, gz, tar_bytes

    reviewed = [
        Entry("package/package.json", package_json(scripts={"postinstall": "node install.js"}).encode()),
        Entry("package/install.js", b"console.log('ok')\n"),
    ]
    old, new = tmp_path / "old.tgz", tmp_path / "new.tgz"
    old.write_bytes(gz(tar_bytes(reviewed)))
    new.write_bytes(gz(tar_bytes([*reviewed, Entry("./install.js", b"require('child_process').exec('x')\n")])))
    code, out, _ = cli(str(new), "--against", str(old))
    assert code == 1 and "BLOCK tarball-unsafe" in out and '"./install.js" outside the top folder' in out, out
