"""The diff's result: file and package.json field changes, findings, and their rendering."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .._internal import markdown
from ..findings import Finding


@dataclass(frozen=True)
class FileChange:
    """A file added, removed, changed (bytes) or whose mode changed."""

    path: str
    status: str  # added | removed | changed | mode
    old_size: int | None
    new_size: int | None

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "status": self.status, "old_size": self.old_size, "new_size": self.new_size}


@dataclass(frozen=True)
class FieldChange:
    """A top-level package.json field whose value changed (None: absent)."""

    field: str
    old: Any
    new: Any
    line: int | None = None

    def to_json(self) -> dict[str, object]:
        return {"field": self.field, "old": self.old, "new": self.new, "line": self.line}


@dataclass
class DiffResult:
    """The delta between baseline and candidate, and the findings about it."""

    name: str
    version: str
    baseline_version: str | None
    files: list[FileChange] = field(default_factory=list)
    fields: list[FieldChange] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    release_type: str = ""
    #: Where the baseline came from and how it was verified (filled by the gate / CLI).
    baseline: dict[str, object] | None = None

    def by_status(self, status: str) -> list[FileChange]:
        return [f for f in self.files if f.status == status]

    @property
    def blocked(self) -> bool:
        return any(f.blocks for f in self.findings)

    def summary(self) -> dict[str, int]:
        added, removed = self.by_status("added"), self.by_status("removed")
        return {
            "added": len(added),
            "removed": len(removed),
            "changed": len(self.by_status("changed")),
            "mode": len(self.by_status("mode")),
            "added_bytes": sum(f.new_size or 0 for f in added),
            "removed_bytes": sum(f.old_size or 0 for f in removed),
        }

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "baseline_version": self.baseline_version,
            "release_type": self.release_type,
            "summary": self.summary(),
            "files": [f.to_json() for f in self.files],
            "fields": [f.to_json() for f in self.fields],
        }

    def to_text(self, max_files: int = 200) -> str:
        """A readable delta for a terminal."""
        base = f"{self.name}@{self.baseline_version}" if self.baseline_version else "(nothing: first release)"
        s = self.summary()
        out = [
            f"{self.name}@{self.version} against {base}",
            f"files: {s['added']} added (+{_size(s['added_bytes'])}), {s['removed']} removed "
            f"(-{_size(s['removed_bytes'])}), {s['changed']} changed, {s['mode']} mode changed",
        ]
        marks = {"added": "+", "removed": "-", "changed": "~", "mode": "m"}
        for f in self.files[:max_files]:
            out.append(f"  {marks[f.status]} {f.path}  {_sizes(f)}")
        if len(self.files) > max_files:
            out.append(f"  … and {len(self.files) - max_files} more")
        if self.fields:
            out.append("package.json fields changed:")
            for c in self.fields:
                out.append(f"  {c.field}: {_short(c.old)} -> {_short(c.new)}")
        return "\n".join(out) + "\n"

    def to_markdown(self, max_files: int = 200) -> str:
        """The delta as Markdown (job summary / `--format markdown`)."""
        base = f"`{self.name}@{self.baseline_version}`" if self.baseline_version else "nothing (first release)"
        s = self.summary()
        out = [
            f"### Release diff: `{self.name}@{self.version}` against {base}",
            "",
            f"{s['added']} added (+{_size(s['added_bytes'])}), {s['removed']} removed "
            f"(-{_size(s['removed_bytes'])}), {s['changed']} changed, {s['mode']} mode changed.",
            "",
        ]
        if self.files:
            out += ["| | File | Size |", "| --- | --- | --- |"]
            icons = {"added": "added", "removed": "removed", "changed": "changed", "mode": "mode"}
            for f in self.files[:max_files]:
                out.append(f"| {icons[f.status]} | {markdown.code(f.path)} | {_sizes(f)} |")
            if len(self.files) > max_files:
                out.append(f"| | … and {len(self.files) - max_files} more | |")
            out.append("")
        if self.fields:
            out += ["| package.json field | Before | After |", "| --- | --- | --- |"]
            for c in self.fields:
                old, new = markdown.text(_short(c.old)), markdown.text(_short(c.new))
                out.append(f"| {markdown.code(c.field)} | {old} | {new} |")
            out.append("")
        return "\n".join(out) + "\n"


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, step in (("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= step:
            return f"{n / step:.1f} {unit}"
    return f"{n} B"


def _sizes(f: FileChange) -> str:
    if f.status == "added":
        return _size(f.new_size)
    if f.status == "removed":
        return _size(f.old_size)
    delta = (f.new_size or 0) - (f.old_size or 0)
    return f"{_size(f.old_size)} -> {_size(f.new_size)} ({'+' if delta >= 0 else '-'}{_size(abs(delta))})"


def _short(value: Any, limit: int = 160) -> str:
    if value is None:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"
