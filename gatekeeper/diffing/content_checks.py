"""Checks on the files themselves: size of the change, secrets, binaries, obfuscation."""

from __future__ import annotations

import json
import re

from gatekeeper.diffing.checker import Checker
from gatekeeper.diffing.content import (
    _BLOB,
    _ESCAPES,
    _EVAL_DECODE,
    _HEX_NUMBER,
    _JSFUCK_BOOL,
    _LONG_LINE_RE,
    _OBFUSCATOR_ID,
    _ROTATION,
    _SECRETS,
    HEX_MIN_COUNT,
    HEX_PER_KB,
    JS_EXTENSIONS,
    JSFUCK_MIN_COUNT,
    LONG_LINE,
    PRIVATE_KEY_LABEL,
    TEXT_SCAN_LIMIT,
    _binary_format,
    _density,
    _executable_kind,
    _long_line,
    _search,
    _sensitive_path,
    key_material,
)
from gatekeeper.diffing.lines import _Added, _is_text, _line_at, added_lines
from gatekeeper.diffing.manifest import _bins
from gatekeeper.diffing.result import _size
from gatekeeper.rules.diff import (
    EXECUTABLE_BINARY,
    EXECUTABLE_BINARY_BECAME_SCRIPT,
    EXECUTABLE_BINARY_CHANGED,
    LARGE_CHANGE,
    OBFUSCATED_CODE,
    SENSITIVE_FILE,
)


class ContentChecks(Checker):
    """The per-file content rules, and the size of the change."""

    def large_change(self) -> None:
        limits = self.policy.diff.large_change
        s = self.result.summary()
        if s["added"] > limits.added_files or s["added_bytes"] > limits.added_bytes:
            self.emit(
                LARGE_CHANGE,
                f"{s['added']} files ({_size(s['added_bytes'])}) added; thresholds: {limits.added_files} files, "
                f"{_size(limits.added_bytes)} (diff.large-change)",
            )

    def added_text(self, path: str) -> _Added:
        cached = self._added_cache.get(path)
        if cached is not None:
            return cached
        new = self.new.files[path].data
        old_entry = self.old.files.get(path) if self.old else None
        if old_entry is None:
            added = _Added(new, [0], [0])
        else:
            lines = added_lines(old_entry.data, new)
            starts, offsets, pos = [], [], 0
            for off, line in lines:
                starts.append(pos)
                offsets.append(off)
                pos += len(line) + 1
            added = _Added(b"\n".join(line for _, line in lines), starts or [0], offsets or [0])
        self._added_cache[path] = added
        return added

    def files(self) -> None:
        bins = set(_bins(self.new).values())
        for change in self.result.files:
            if change.status not in ("added", "changed"):
                continue
            path = change.path
            entry = self.new.files[path]
            self.sensitive(path, change.status, entry.data)
            self.binary(path, change.status, entry.data)
            is_js = path.endswith(JS_EXTENSIONS) or path in bins
            if is_js and entry.size <= TEXT_SCAN_LIMIT and _is_text(entry.data):
                self.obfuscation(path, change.status, entry.data)

    def sensitive(self, path: str, status: str, data: bytes) -> None:
        what = _sensitive_path(path) if status == "added" else None
        if what:
            text = f"{path} is {what} ({status})"
            if self.file_approved(path):
                self.approved("files", text, file=path)
            else:
                self.emit(SENSITIVE_FILE, text, file=path)
            return
        if len(data) > TEXT_SCAN_LIMIT or not _is_text(data):
            return
        added = self.added_text(path)
        for kind, patterns in _SECRETS:
            if kind == PRIVATE_KEY_LABEL:  # the armour alone (a docs placeholder) is not a key
                m = next((k for k in patterns[0].finditer(added.text) if key_material(added.text, k.end())), None)
            else:
                m = _search(added.text, patterns)
            if m is None:
                continue
            value = m.group().decode("ascii", "replace")
            if kind == "an AWS access key id" and value.endswith("EXAMPLE"):
                continue
            line = _line_at(data, added.file_offset(m.start()))
            text = f"{path} contains {kind} ({value[:12]}…, masked) at line {line}"
            if self.file_approved(path):
                self.approved("files", text, file=path, line=line)
            else:
                self.emit(SENSITIVE_FILE, text, file=path, line=line)
            return

    def binary(self, path: str, status: str, data: bytes) -> None:
        kind = _executable_kind(data) or ("a Node addon (.node)" if path.endswith(".node") else None)
        if kind is None:
            if status == "changed" and _executable_kind(data) is None:
                self.became_script(path, data)
            return
        old = self.old.files.get(path) if self.old and status == "changed" else None
        fmt = _binary_format(data) or (kind, "")
        old_fmt = None
        if old is not None:
            old_fmt = _binary_format(old.data) or (("a Node addon (.node)", "") if path.endswith(".node") else None)
        if old is not None and old_fmt == fmt:
            arch = f", {fmt[1]}" if fmt[1] else ""
            text = (
                f"{path} is {kind} rebuilt at the same path ({fmt[0]}{arch}; {_size(old.size)} -> {_size(len(data))})"
            )
            r = EXECUTABLE_BINARY_CHANGED
        else:
            was = ""
            if old is not None:
                was = f", replacing {' '.join(old_fmt) if old_fmt else 'a file that was not a binary'}"
            text = f"{path} is {kind} ({status}, {_size(len(data))}{was})"
            r = EXECUTABLE_BINARY
        if self.file_approved(path):
            self.approved("files", text, file=path)
        else:
            self.emit(r, text, file=path)

    def became_script(self, path: str, data: bytes) -> None:
        """A native executable replaced by a file of another format (a script, text): whatever ran the binary -- its
        bin link, an install script of this or another package (esbuild's platform packages), a child process --
        now runs it (a text file without `#!` too: `execvp` hands it to /bin/sh)."""
        old_kind = _executable_kind(self.old.files[path].data) if self.old else None
        if old_kind is None:
            return
        if any(f.file == path and f.blocks for f in self.result.findings):
            return  # already blocked as install code (this package's install script runs it)
        first = data[:200].split(b"\n", 1)[0]
        if first.startswith(b"#!"):
            what = f"a script ({first.decode('utf-8', 'replace')[:80]})"
        else:
            what = "text" if _is_text(data) else "a file of another format"
        runners = [name for name, target in _bins(self.new).items() if target == path]
        who = f"its bin link {runners[0]!r}" if runners else "whatever ran the binary"
        text = (
            f"{path} was {old_kind} and is now {what} ({_size(self.old.files[path].size)} -> {_size(len(data))}): "
            f"{who} now runs this file"
        )
        if self.file_approved(path):
            self.approved("files", text, file=path)
        else:
            self.emit(EXECUTABLE_BINARY_BECAME_SCRIPT, text, file=path, line=1)

    def obfuscation(self, path: str, status: str, data: bytes) -> None:
        added = self.added_text(path)
        text = added.text
        if not text:
            return
        old = self.old.files[path].data if status == "changed" and self.old else None
        signals: list[tuple[str, int]] = []

        def new_signal(patterns: tuple[re.Pattern[bytes], ...], label: str, count: int = 1) -> None:
            boundary = patterns is not _ESCAPES
            first = _search(text, patterns, count, boundary=boundary)
            if first is None:
                return
            if old is not None and _search(old, patterns, count, boundary=boundary) is not None:
                return  # the previous release already had this: not new here
            signals.append((label, first.start()))

        new_signal(_EVAL_DECODE, "eval/Function/vm applied to decoded data")
        new_signal(_BLOB, "a long base64/hex string literal")
        new_signal(_ESCAPES, "long runs of \\x/\\u-escaped characters")
        new_signal(_OBFUSCATOR_ID, "obfuscator-style _0x identifiers", count=5)
        new_signal(_ROTATION, "a string-array rotation/decoder (javascript-obfuscator)")
        for pattern, label, low, per_kb in (
            (_HEX_NUMBER, "string lookups by hex index (f(0x1f4))", HEX_MIN_COUNT, HEX_PER_KB),
            (_JSFUCK_BOOL, "JSFuck-style booleans (![] / !![])", JSFUCK_MIN_COUNT, 0.0),
        ):
            at = _density(text, pattern, low, per_kb)
            if at is not None and (old is None or _density(old, pattern, low, per_kb) is None):
                signals.append((label, at))
        if old is not None:
            long_at = _long_line(added)
            if long_at is not None and not _LONG_LINE_RE.search(old):
                signals.append((f"a line over {LONG_LINE} characters in a file that was not minified before", long_at))
        if not signals:
            return
        label, pos = signals[0]
        line = _line_at(data, added.file_offset(pos))
        snippet = text[pos : pos + 80].decode("utf-8", "replace").replace("\n", " ")
        more = f" (+{len(signals) - 1} more signals)" if len(signals) > 1 else ""
        message = f"{path} ({status}): {label} at line {line}: {json.dumps(snippet)}…{more}"
        if self.file_approved(path):
            self.approved("files", message, file=path, line=line)
        else:
            self.emit(OBFUSCATED_CODE, message, file=path, line=line, signals=[s for s, _ in signals])
