"""Markdown for text that may come from a package or a pull request (hostile input).

`text()` for plain table cells: no HTML, no links or images, no @-mentions, no cell breaks.
`code()` for a code span: GitHub renders nothing inside one, so only the span's own
delimiters and the table's pipe need care.
"""

from __future__ import annotations

_TEXT = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "[": "\\[",
        "]": "\\]",
        "|": "\\|",
        "\r": " ",
        "\n": " ",
        "@": "@\u200b",  # no mention notifications
    }
)


def _cap(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def text(value: str, limit: int = 2000) -> str:
    """Plain text safe in a Markdown table cell (backticks kept for our own code spans)."""
    return _cap(value, limit).translate(_TEXT)


def code(value: str, limit: int = 300) -> str:
    """A code span holding `value` literally (backticks become ', pipes are escaped for tables)."""
    inner = _cap(value, limit).replace("`", "'").replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    return f"`{inner}`"
