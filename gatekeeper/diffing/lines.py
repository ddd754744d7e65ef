"""Added lines of a changed file, and offsets/line numbers back into the file."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from itertools import accumulate

_CHUNK = 32 * 1024
_WINDOW = 64 * 1024


def added_lines(old: bytes, new: bytes) -> list[tuple[int, bytes]]:
    """Lines of `new` not present in the matching region of `old`, as (offset in new, line)."""
    out: list[tuple[int, bytes]] = []
    if not old:
        _line_diff(b"", new, 0, out)
        return out
    n = len(new)
    grow, shrink = max(_WINDOW, n - len(old)), max(_WINDOW, len(old) - n)
    view = memoryview(new)
    pos = pending = cursor = 0
    while pos < n:
        end = new.find(b"\n", pos + _CHUNK)
        end = n if end < 0 else end + 1
        expected = cursor + (pos - pending)
        if old.startswith(view[pos:end], expected):
            found = expected  # the common case, unchanged text where it is expected: one memcmp, no search
        else:
            found = old.find(view[pos:end], max(cursor, expected - grow), expected + (end - pos) + shrink)
        if found >= 0:
            if pending < pos:
                _line_diff(old[cursor:found], new[pending:pos], pending, out)
            cursor, pending = found + (end - pos), end
        pos = end
    if pending < n:
        _line_diff(old[cursor:], new[pending:], pending, out)
    return out


def _line_diff(old: bytes, new: bytes, base: int, out: list[tuple[int, bytes]]) -> None:
    """The non-blank lines of `new` that are not lines of `old`, with their offsets (`base` + offset in `new`).

    Set operations first, then one pass that only tests membership: the offsets come from a running sum of
    the line lengths, and only the lines that are new are touched again."""
    lines = new.split(b"\n")
    fresh = set(lines)
    if old:
        fresh.difference_update(old.split(b"\n"))
    fresh = {line for line in fresh if line.strip()}
    if not fresh:
        return
    starts = list(accumulate(map(len, lines), initial=0))  # starts[i] + i: where line i starts (i newlines)
    out.extend((base + starts[i] + i, line) for i, line in enumerate(lines) if line in fresh)


def _is_text(data: bytes) -> bool:
    return b"\0" not in data[:8192]


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _first_diff_line(old: bytes | None, new: bytes) -> int | None:
    """The line of `new` where it first differs from `old` (chunked memcmp, then bytes)."""
    if not old:
        return 1 if new else None
    limit, step, pos = min(len(old), len(new)), 64 * 1024, 0
    while pos < limit and old[pos : pos + step] == new[pos : pos + step]:
        pos += step
    end = min(pos + step, limit)
    while pos < end and old[pos] == new[pos]:
        pos += 1
    if pos == len(old) and new[pos : pos + 1] == b"\n":
        pos += 1  # lines appended after the old last line start on the next line
    return _line_at(new, pos)


@dataclass
class _Added:
    """The new text of a changed/added file: its added lines joined, with offsets back into the file."""

    text: bytes
    starts: list[int]  # offset of each line in `text`
    offsets: list[int]  # offset of the same line in the file

    def file_offset(self, pos: int) -> int:
        i = bisect.bisect_right(self.starts, pos) - 1
        return self.offsets[i] + (pos - self.starts[i])
