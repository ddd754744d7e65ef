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
    _KEY_END,
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
    _matches,
    _search,
    _sensitive_path,
    inline_wasm,
    key_material,
    witness,
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

TYPE_CHECKING = False  # `typing` is not imported at run time (start-up, see docs/DESIGN.md)
if TYPE_CHECKING:
    from collections.abc import Callable


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
            m = next((m for m in _matches(added.text, patterns, boundary=kind != PRIVATE_KEY_LABEL)
                      if self._new_secret(kind, added.text, m)), None)  # fmt: skip
            if m is None:
                continue
            value = m.group().decode("ascii", "replace")
            line = _line_at(data, added.file_offset(m.start()))
            text = f"{path} contains {kind} ({value[:12]}…, masked) at line {line}"
            if self.file_approved(path):
                self.approved("files", text, file=path, line=line)
            else:
                self.emit(SENSITIVE_FILE, text, file=path, line=line)
            return

    def _new_secret(self, kind: str, text: bytes, m: re.Match[bytes]) -> bool:
        """A secret this release adds: not a placeholder, and not already in any file of the previous release (a
        renamed or moved document carries the same value: nothing new is disclosed)."""
        if kind == PRIVATE_KEY_LABEL:
            if not key_material(text, m.end()):
                return False  # the armour alone (a docs placeholder) is not a key
            end = _KEY_END.search(text, m.end(), m.end() + 16 * 1024)
            value = text[m.start() : end.end() if end else m.end() + 4096]
        else:
            value = m.group()
            if kind == "an AWS access key id" and value.endswith(b"EXAMPLE"):
                return False
        return not self.shipped_before(value)

    def shipped_before(self, value: bytes) -> bool:
        """Whether the previous release had these exact bytes in any of its files."""
        if self.old is None or not value:
            return False
        return any(value in entry.data for entry in self.old.files.values() if entry.size >= len(value))

    def binary(self, path: str, status: str, data: bytes) -> None:
        kind = _executable_kind(data) or ("a Node addon (.node)" if path.endswith(".node") else None)
        if kind is None:
            if status == "changed":
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

    def _old_witnesses(
        self, key: str, patterns: tuple[re.Pattern[bytes], ...], boundary: bool, context: int
    ) -> set[bytes]:
        """The witnesses (see `content.witness`) of one signal in every JavaScript file of the previous release."""
        cache: dict[str, set[bytes]] = self.__dict__.setdefault("_witness_cache", {})
        found = cache.get(key)
        if found is None:
            found = set()
            for text in self._old_js():
                found.update(witness(text, m, context) for m in _matches(text, patterns, boundary=boundary))
            cache[key] = found
        return found

    def _old_js(self) -> list[bytes]:
        if self.old is None:
            return []
        bins = set(_bins(self.old).values())
        return [
            e.data
            for p, e in self.old.files.items()
            if (p.endswith(JS_EXTENSIONS) or p in bins) and e.size <= TEXT_SCAN_LIMIT and _is_text(e.data)
        ]

    def _chunk_counterparts(self, path: str) -> list[bytes]:
        """For an added bundle chunk whose name carries a content hash (`chunk-3f2a1b9c.js`, `dep-BcfrWFrf.js`): the
        removed files of the previous release with the same name but for the hash -- the same chunk, rebuilt
        (several when a bundler names chunks by hash alone)."""
        key = _chunk_key(path)
        if self.old is None or key == path:
            return []
        return [e.data for p, e in self.old.files.items() if p not in self.new.files and _chunk_key(p) == key]

    def obfuscation(self, path: str, status: str, data: bytes) -> None:
        """Obfuscation signals this release adds. A signal is compared by content, not by path: matches whose
        witness (the literal, the escape run, the identifier, or a generic match with the code around it) any
        JavaScript file of the previous release had are not new -- a content-hashed or re-split chunk carrying
        the same inline WebAssembly it shipped for many releases, a renamed file. Every match is checked, so a
        known blob in front of a new one does not hide it."""
        added = self.added_text(path)
        text = added.text
        if not text:
            return
        # what this file was before: its previous version, or for a hash-renamed chunk the chunks it can be
        olds = [self.old.files[path].data] if status == "changed" and self.old else self._chunk_counterparts(path)
        signals: list[tuple[str, int]] = []

        def fresh(
            key: str, patterns: tuple[re.Pattern[bytes], ...], count: int, context: int, keep: Callable[[bytes], bool]
        ) -> list[re.Match[bytes]]:
            boundary = patterns is not _ESCAPES
            ms = [m for m in _matches(text, patterns, boundary=boundary) if keep(m.group())]
            if len(ms) < count:
                return []
            if any(_search(old, patterns, count, boundary=boundary) is not None for old in olds):
                return []  # the previous release of this file already had this: not new here
            known = self._old_witnesses(key, patterns, boundary, context)
            ms = [m for m in ms if witness(text, m, context) not in known]
            return ms if len(ms) >= count else []

        def new_signal(
            key: str, patterns: tuple[re.Pattern[bytes], ...], label: str, count: int = 1, context: int = 0,
            keep: Callable[[bytes], bool] = lambda _: True,
        ) -> None:  # fmt: skip
            ms = fresh(key, patterns, count, context, keep)
            if ms:
                signals.append((label, ms[0].start()))

        new_signal("eval", _EVAL_DECODE, "eval/Function/vm applied to decoded data")
        wasm = fresh("blob", _BLOB, 1, 0, inline_wasm)
        if wasm:
            size = len(wasm[0].group()) * 3 // 4 // 1024
            signals.append((f"an inline WebAssembly module ({size} kB, base64/hex) no earlier release shipped",
                            wasm[0].start()))  # fmt: skip
        new_signal("blob", _BLOB, "a long base64/hex string literal", keep=lambda b: not inline_wasm(b))
        new_signal("escapes", _ESCAPES, "long runs of \\x/\\u-escaped characters")
        new_signal("0x", _OBFUSCATOR_ID, "obfuscator-style _0x identifiers", count=5)
        new_signal("rotation", _ROTATION, "a string-array rotation/decoder (javascript-obfuscator)", context=48)
        for key, pattern, label, low, per_kb in (
            ("hex", _HEX_NUMBER, "string lookups by hex index (f(0x1f4))", HEX_MIN_COUNT, HEX_PER_KB),
            ("jsfuck", _JSFUCK_BOOL, "JSFuck-style booleans (![] / !![])", JSFUCK_MIN_COUNT, 0.0),
        ):
            at = _density(text, pattern, low, per_kb)
            if at is None or any(_density(old, pattern, low, per_kb) is not None for old in olds):
                continue
            ms = fresh(key, (pattern,), low, 24, lambda _: True)
            if ms and len(ms) * 1024 / max(len(text), 1) >= per_kb:
                signals.append((label, ms[0].start()))
        if status == "changed":  # (an added file's text is one "added line": its line lengths are not known here)
            long_at = _long_line(added)
            if long_at is not None and not any(_LONG_LINE_RE.search(old) for old in olds):
                signals.append((f"a line over {LONG_LINE} characters in a file that was not minified before", long_at))
        if not signals:
            return
        signals.sort(key=lambda s: s[1] if "WebAssembly" not in s[0] else -1)
        label, pos = signals[0]
        line = _line_at(data, added.file_offset(pos))
        snippet = text[pos : pos + 80].decode("utf-8", "replace").replace("\n", " ")
        more = f" (+{len(signals) - 1} more signals)" if len(signals) > 1 else ""
        message = f"{path} ({status}): {label} at line {line}: {json.dumps(snippet)}…{more}"
        if self.file_approved(path):
            self.approved("files", message, file=path, line=line)
        else:
            self.emit(OBFUSCATED_CODE, message, file=path, line=line, signals=[s for s, _ in signals])


#: The content hash in a bundler's chunk name: the last dot/dash-separated part before the extension, 8+ characters
#: of base64url or hex with at least one digit (webpack `[contenthash]`, Vite/Rollup `[hash]`, esbuild `[hash]`).
_CHUNK_HASH = re.compile(r"(?<=[.\-~_])(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{8,}(?=\.[cm]?jsx?$)")


def _chunk_key(path: str) -> str:
    """`path` with its chunk hash as `#` (itself when it has none)."""
    return _CHUNK_HASH.sub("#", path)
