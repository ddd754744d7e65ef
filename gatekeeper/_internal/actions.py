"""GitHub Actions workflow commands and file commands, escaped as GitHub requires."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from typing import TextIO


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, props: Mapping[str, object] | None = None, out: TextIO | None = None) -> None:
    """Print `::name k=v,...::message`."""
    stream = out or sys.stdout
    prop_text = ""
    if props:
        items = [f"{k}={escape_property(str(v))}" for k, v in props.items() if v not in (None, "")]
        prop_text = " " + ",".join(items) if items else ""
    stream.write(f"::{name}{prop_text}::{escape_data(message)}\n")
    stream.flush()


def add_mask(value: str, out: TextIO | None = None) -> None:
    """Ask the runner to mask `value` in logs (every line of it)."""
    for part in value.splitlines() or [value]:
        if part.strip():
            command("add-mask", part, out=out)


def in_actions(env: Mapping[str, str] | None = None) -> bool:
    return (env or os.environ).get("GITHUB_ACTIONS") == "true"


def set_outputs(values: Mapping[str, str], env: Mapping[str, str] | None = None) -> None:
    """Append outputs to $GITHUB_OUTPUT (heredoc form for multi-line values)."""
    path = (env or os.environ).get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        for name, value in values.items():
            if "\n" in value or "\r" in value:
                delim = f"ghadelimiter_{secrets.token_hex(8)}"
                fh.write(f"{name}<<{delim}\n{value}\n{delim}\n")
            else:
                fh.write(f"{name}={value}\n")


def append_summary(markdown: str, env: Mapping[str, str] | None = None, limit: int = 1024 * 1024 - 1024) -> None:
    """Append Markdown to $GITHUB_STEP_SUMMARY (GitHub caps a step's summary at 1 MiB)."""
    path = (env or os.environ).get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    data = markdown.encode("utf-8")
    if len(data) > limit:
        cut = data[: limit - 200].decode("utf-8", "ignore")
        markdown = cut + "\n\n_(summary truncated: see the JSON report for everything)_\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(markdown)
