"""Reporters: hostile text cannot inject HTML, links, images or mentions into the summary / PR comment."""

from __future__ import annotations

import io
import json

from gatekeeper import report
from gatekeeper._internal import markdown
from gatekeeper.decision import Decision, GateResult
from gatekeeper.findings import Finding, Severity


def _outcome(findings: list[Finding], allow: bool = False) -> report.Outcome:
    return report.Outcome(
        mode="publish",
        decision=Decision(allow, 0 if allow else 1, "x"),
        gates=[GateResult("diff", "pass" if allow else "fail", findings)],
        package={"name": "@acme/widget", "version": "1.0.1"},
        previous={"name": "@acme/widget", "version": "1.0.0"},
    )


def test_markdown_text_neutralises_html_links_mentions_and_cells() -> None:
    out = markdown.text("<img src=x onerror=alert(1)> [click](https://evil.test) ![i](u) @maintainers a|b\nc")
    assert "<" not in out and ">" not in out
    assert "\\[click\\](https://evil.test)" in out and "!\\[i\\]" in out
    assert "@maintainers" not in out and "\\|" in out and "\n" not in out


def test_markdown_code_span_cannot_be_broken_out_of() -> None:
    assert markdown.code("a`b|c\nd") == "`a'b\\|c d`"
    assert len(markdown.code("x" * 1000)) < 310


def test_summary_puts_decision_first_and_escapes_findings() -> None:
    evil = Finding("lifecycle-script-added", Severity.BLOCK, "postinstall `<script>` @here", file="a|b`.js", line=3)
    md = report.to_markdown(_outcome([evil]))
    first = md.splitlines()[0]
    assert first.startswith("## 🛑") and "NOT published" in first
    assert "<script>" not in md and "@here" not in md
    assert "`a\\|b'.js`:3" in md
    assert "| diff | ❌ fail | 1 block |" in md
    assert "How to fix" in md


def test_annotations_carry_file_and_line() -> None:
    out = io.StringIO()
    f = Finding("sensitive-file", Severity.BLOCK, "x: y", file=".npmrc", line=2)
    w = Finding("first-release", Severity.WARN, "first")
    report.annotate(_outcome([f, w]), out=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "::error file=.npmrc,line=2,title=npm-gatekeeper%3A sensitive-file::x: y"
    assert lines[1] == "::warning title=npm-gatekeeper%3A first-release::first"


def test_json_report_shape() -> None:
    data = report.to_json(_outcome([Finding("large-change", Severity.WARN, "m", file="f", line=1)], allow=True))
    assert data["decision"] == "allow"
    assert data["package"] == {"name": "@acme/widget", "version": "1.0.1"}
    assert data["previous"] == {"name": "@acme/widget", "version": "1.0.0"}
    assert data["gates"] == {"diff": "pass"}
    assert data["findings"] == [
        {"rule": "large-change", "severity": "warn", "message": "m", "file": "f", "line": 1, "gate": "diff"}
    ]
    json.dumps(data)


def test_outputs() -> None:
    out = report.outputs(_outcome([]), "node_modules/.cache/npm-gatekeeper/report.json")
    assert out == {
        "decision": "block",
        "published": "false",
        "name": "@acme/widget",
        "version": "1.0.1",
        "previous-version": "1.0.0",
        "report": "node_modules/.cache/npm-gatekeeper/report.json",
        "integrity": "",
        "needs-review": "false",
        "stage-id": "",
        "notified": "false",
        "unexpected": "",
        "published-packages": "[]",
        "stage-ids": "{}",
    }
