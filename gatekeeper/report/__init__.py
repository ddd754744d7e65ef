"""Reporters over one outcome model (`outcome.Outcome`): JSON, Markdown, plain text, annotations and
outputs, approval snippets. The renderers are siblings: none imports another.
"""

from gatekeeper.report.github import annotate, outputs
from gatekeeper.report.json import to_json, write_json
from gatekeeper.report.markdown import findings_table, to_markdown
from gatekeeper.report.outcome import Outcome
from gatekeeper.report.render import render

__all__ = ["Outcome", "annotate", "findings_table", "outputs", "render", "to_json", "to_markdown", "write_json"]
