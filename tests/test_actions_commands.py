"""Workflow commands are escaped as GitHub requires; outputs and summary files."""

from __future__ import annotations

import io
from pathlib import Path

from gatekeeper._internal import actions


def test_annotation_escaping() -> None:
    out = io.StringIO()
    actions.command("error", "50% bad\nline2\r", {"file": "a,b:c.json", "line": 3, "title": "t"}, out=out)
    assert out.getvalue() == "::error file=a%2Cb%3Ac.json,line=3,title=t::50%25 bad%0Aline2%0D\n"


def test_empty_properties_dropped() -> None:
    out = io.StringIO()
    actions.command("warning", "m", {"file": None, "line": None}, out=out)
    assert out.getvalue() == "::warning::m\n"


def test_add_mask_every_line() -> None:
    out = io.StringIO()
    actions.add_mask("abc\ndef", out=out)
    assert out.getvalue() == "::add-mask::abc\n::add-mask::def\n"


def test_outputs_single_and_multiline(tmp_path: Path) -> None:
    path = tmp_path / "out"
    actions.set_outputs({"a": "1", "b": "x\ny"}, {"GITHUB_OUTPUT": str(path)})
    lines = path.read_text().splitlines()
    assert lines[0] == "a=1"
    assert lines[1].startswith("b<<ghadelimiter_") and lines[2:4] == ["x", "y"]
    assert lines[4] == lines[1].split("<<")[1]


def test_summary_capped(tmp_path: Path) -> None:
    path = tmp_path / "s"
    actions.append_summary("x" * 5000, {"GITHUB_STEP_SUMMARY": str(path)}, limit=1000)
    text = path.read_text()
    assert len(text.encode()) < 1000 and "truncated" in text
