"""The diff's result: file and package.json field changes, findings, and their rendering."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gatekeeper._internal import markdown, terminal
from gatekeeper.findings import Finding

if TYPE_CHECKING:
    from typing import Any

    from gatekeeper.errors import GatekeeperError


@dataclass(frozen=True)
class FileChange:
    """A file added, removed, changed (bytes) or whose mode changed."""

    path: str
    status: str  # added | removed | changed | mode
    old_size: int | None
    new_size: int | None
    #: Permission bits before and after, when they differ (mode changes, and changed files whose mode changed).
    old_mode: int | None = None
    new_mode: int | None = None

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "path": self.path,
            "status": self.status,
            "old_size": self.old_size,
            "new_size": self.new_size,
        }
        if self.old_mode is not None and self.new_mode is not None:
            data["old_mode"], data["new_mode"] = f"{self.old_mode:04o}", f"{self.new_mode:04o}"
        return data

    def mode_text(self) -> str:
        """`mode 0644 -> 0755` when the permission bits changed, else ""."""
        if self.old_mode is None or self.new_mode is None:
            return ""
        return f"mode {self.old_mode:04o} -> {self.new_mode:04o}"


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
    #: A fault of a check that needed the outside world (the consumer tree's resolution): the findings above
    #: are complete but for that check, and the run cannot decide (exit 2) — they are still reported.
    error: GatekeeperError | None = None

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
        """A readable delta for a terminal: plain text, hostile characters made visible."""
        base = f"{self.name}@{self.baseline_version}" if self.baseline_version else "(nothing: first release)"
        return terminal.safe(f"{self.name}@{self.version} against {base}") + "\n" + self.delta_text(max_files)

    def delta_text(self, max_files: int = 200) -> str:
        """The files and package.json lines of `to_text`, without its heading line."""
        s = self.summary()
        out = [
            f"files: {s['added']} added (+{_size(s['added_bytes'])}), {s['removed']} removed "
            f"(-{_size(s['removed_bytes'])}), {s['changed']} changed, {s['mode']} mode changed",
        ]
        marks = {"added": "+", "removed": "-", "changed": "~", "mode": "m"}
        for f in self.files[:max_files]:
            out.append(f"  {marks[f.status]} {terminal.safe(f.path)}  {_sizes(f)}")
        if len(self.files) > max_files:
            out.append(f"  … and {len(self.files) - max_files} more")
        if self.fields:
            out.append(f"package.json: {_count(len(self.fields), 'key')} changed")
            out += field_lines(self.fields)
        return "\n".join(out) + "\n"

    def to_markdown(self, max_files: int = 200) -> str:
        """The delta as Markdown (job summary / `--format markdown`)."""
        base = f"`{self.name}@{self.baseline_version}`" if self.baseline_version else "nothing (first release)"
        s = self.summary()
        out = [
            f"### Release diff: {markdown.code(self.name + '@' + self.version)} against {base}",
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
            out += ["| package.json key | Before | After |", "| --- | --- | --- |"]
            for e in field_entries(self.fields):
                if e.old is ABSENT and e.new is ABSENT:  # a marker: "… and N more", "N digest values changed"
                    where = " / ".join(markdown.code(k) for k in e.path[:-1])
                    out.append(f"| {where} | {markdown.text(e.path[-1])} | |")
                    continue
                old, new = _pair(e.old, e.new, MARKDOWN_VALUE_LIMIT)
                where = " / ".join(markdown.code(k) for k in e.path)
                out.append(f"| {where} | {_md_value(e.old, old)} | {_md_value(e.new, new)} |")
            out.append("")
        return "\n".join(out) + "\n"


#: A package.json value that is not there (a key added or removed).
ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT"})()
#: Nested maps deeper than this are shown as one (shortened) JSON value.
MAX_ENTRY_DEPTH = 4
#: Entries listed per changed top-level key before "… and N more".
MAX_ENTRIES_PER_KEY = 200
TEXT_VALUE_LIMIT = 100
MARKDOWN_VALUE_LIMIT = 120


@dataclass(frozen=True)
class EntryChange:
    """One changed leaf of package.json: its key path (`("dependencies", "cookie")`), old and new value."""

    path: tuple[str, ...]
    old: Any  # ABSENT when added
    new: Any  # ABSENT when removed


def field_entries(fields: list[FieldChange]) -> list[EntryChange]:
    """Every changed key of package.json; nested maps (dependencies, scripts, bin, exports…) per entry."""
    out: list[EntryChange] = []
    for c in fields:
        old = ABSENT if c.old is None else c.old
        new = ABSENT if c.new is None else c.new
        entries = _summarise_hashes(_entries((c.field,), old, new))
        if len(entries) > MAX_ENTRIES_PER_KEY:
            rest = len(entries) - MAX_ENTRIES_PER_KEY
            entries = [*entries[:MAX_ENTRIES_PER_KEY], EntryChange((c.field, f"… and {rest} more"), ABSENT, ABSENT)]
        out += entries
    return out


#: Sibling values that all look like digests (hex, base64, SRI) and all changed are shown as one line
#: from this many on (esbuild's `esbuild.binaryHashes`: 23 sha256 values in every release).
HASH_SUMMARY_MIN = 4
_DIGEST = re.compile(r"^(?:sha(?:1|256|384|512)-[A-Za-z0-9+/]{20,}={0,2}|[0-9a-fA-F]{32,}|[A-Za-z0-9+/_-]{40,}={0,2})$")


def _digest(value: Any) -> bool:
    return isinstance(value, str) and bool(_DIGEST.match(value))


def _summarise_hashes(entries: list[EntryChange]) -> list[EntryChange]:
    """Siblings whose old and new values are all digests, changed in place: one summary entry (the
    per-key values stay in the JSON report's `fields`)."""
    groups: dict[tuple[str, ...], list[EntryChange]] = {}
    for e in entries:
        if len(e.path) > 1 and _digest(e.old) and _digest(e.new):
            groups.setdefault(e.path[:-1], []).append(e)
    folded = {parent: g for parent, g in groups.items() if len(g) >= HASH_SUMMARY_MIN}
    if not folded:
        return entries
    out: list[EntryChange] = []
    for e in entries:
        parent = e.path[:-1]
        if parent not in folded or e not in folded[parent]:
            out.append(e)
        elif e is folded[parent][0]:
            n = len(folded[parent])
            note = f"{n} digest values changed (one per key; the values are in the JSON report's fields)"
            out.append(EntryChange((*parent, note), ABSENT, ABSENT))
    return out


def _entries(path: tuple[str, ...], old: Any, new: Any) -> list[EntryChange]:
    both_maps = isinstance(old, dict | type(ABSENT)) and isinstance(new, dict | type(ABSENT))
    if both_maps and (isinstance(old, dict) or isinstance(new, dict)) and len(path) < MAX_ENTRY_DEPTH:
        o: dict[str, Any] = old if isinstance(old, dict) else {}
        n: dict[str, Any] = new if isinstance(new, dict) else {}
        keys = list(n) + [k for k in o if k not in n]
        out: list[EntryChange] = []
        for k in keys:
            ov, nv = o.get(k, ABSENT), n.get(k, ABSENT)
            if ov != nv or (k in o) != (k in n):
                out += _entries((*path, str(k)), ov, nv)
        if not out:  # e.g. {} -> absent: the map itself changed
            return [EntryChange(path, old, new)]
        return out
    return [EntryChange(path, old, new)]


def field_lines(fields: list[FieldChange], indent: str = "  ") -> list[str]:
    """Text lines of the package.json changes, nested maps grouped under their key."""
    lines: list[str] = []
    shown: tuple[str, ...] = ()
    for e in field_entries(fields):
        common = 0
        while common < min(len(shown), len(e.path) - 1) and shown[common] == e.path[common]:
            common += 1
        for depth in range(common, len(e.path) - 1):  # group headings not printed yet
            lines.append(f"{indent * (depth + 1)}{_key(e.path[depth])}:")
        shown = e.path[:-1]
        old, new = _pair(e.old, e.new, TEXT_VALUE_LIMIT)
        lead = f"{indent * len(e.path)}{_key(e.path[-1])}"
        if e.old is ABSENT and e.new is ABSENT:  # the "… and N more" marker
            lines.append(f"{indent * len(e.path)}{terminal.safe(e.path[-1])}")
        else:
            lines.append(f"{lead}: {terminal.safe(old)} -> {terminal.safe(new)}")
    return lines


def _key(key: str) -> str:
    plain = key and key.strip() == key and not key.startswith(('"', ".")) and ": " not in key and key.isprintable()
    return key if plain else terminal.safe(json.dumps(key, ensure_ascii=False))


def _value(value: Any) -> str:
    """A value as text: strings as they are (quoted when empty, padded or ambiguous), the rest as JSON."""
    if value is ABSENT:
        return "(absent)"
    if isinstance(value, str):
        if value and value.strip() == value and value != "(absent)" and not value.startswith('"'):
            return value
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _pair(old: Any, new: Any, limit: int) -> tuple[str, str]:
    o, n = _value(old), _value(new)
    if old is ABSENT or new is ABSENT:  # nothing to align: keep each value's start and end
        return terminal.shorten(o, limit), terminal.shorten(n, limit)
    return terminal.shorten_pair(o, n, limit)


def _md_value(raw: Any, shown: str) -> str:
    return "*(absent)*" if raw is ABSENT else markdown.code(shown)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, step in (("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= step:
            return f"{n / step:.1f} {unit}"
    return f"{n} B"


def _sizes(f: FileChange) -> str:
    if f.status == "mode":
        return f.mode_text()
    if f.mode_text():
        return f"{_sizes_only(f)}, {f.mode_text()}"
    return _sizes_only(f)


def _sizes_only(f: FileChange) -> str:
    if f.status == "added":
        return _size(f.new_size)
    if f.status == "removed":
        return _size(f.old_size)
    delta = (f.new_size or 0) - (f.old_size or 0)
    return f"{_size(f.old_size)} -> {_size(f.new_size)} ({'+' if delta >= 0 else '-'}{_size(abs(delta))})"
