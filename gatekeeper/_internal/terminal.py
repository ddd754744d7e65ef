"""Plain text for a terminal, from text that may come from a package (hostile input).

`safe()` makes every control, format (zero-width, bidi override), line/paragraph separator and
other invisible character visible as `\\u{XXXX}` (tab and newline as `\\t`/`\\n`), so a package
cannot move the cursor, recolour, hide or reorder what a maintainer reads. Nothing else is
changed: no HTML entities, no Markdown escapes, no zero-width characters of our own.
`shorten()` cuts a long value to a limit keeping both ends; `shorten_pair()` cuts an old/new pair
around the part that differs, so the change itself is always on screen.
"""

from __future__ import annotations

import unicodedata

_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\e"}
ELLIPSIS = "…"


def _visible(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    return f"\\u{{{ord(ch):04X}}}"


def safe(text: str) -> str:
    """`text` with every invisible or terminal-controlling character shown as an escape."""
    if text.isprintable():  # the common case: nothing to do (str.isprintable rejects Cc, Cf, Z* but space)
        return text
    out = []
    for ch in text:
        if ch == " " or (ch.isprintable() and unicodedata.category(ch) not in ("Cf", "Zl", "Zp")):
            out.append(ch)
        else:
            out.append(_visible(ch))
    return "".join(out)


def shorten(text: str, limit: int) -> str:
    """`text`, or its start and end joined by `…` when longer than `limit`."""
    if len(text) <= limit:
        return text
    head = max(1, (limit - 1) * 2 // 3)
    tail = max(0, limit - 1 - head)
    return text[:head] + ELLIPSIS + (text[-tail:] if tail else "")


def shorten_pair(old: str, new: str, limit: int, context: int = 24) -> tuple[str, str]:
    """Old and new cut to about `limit` around the part that differs (the common start/end elided)."""
    if len(old) <= limit and len(new) <= limit:
        return old, new
    prefix = 0
    top = min(len(old), len(new))
    while prefix < top and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < top - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    return _window(old, prefix, suffix, limit, context), _window(new, prefix, suffix, limit, context)


def _window(text: str, prefix: int, suffix: int, limit: int, context: int) -> str:
    start = max(0, prefix - context)
    end = min(len(text), len(text) - suffix + context)
    if len(text) <= limit:
        start, end = 0, len(text)
    middle = text[start:end]
    if len(middle) > limit:  # the differing part alone is too long: keep its start and its end
        middle = shorten(middle, limit)
    return (ELLIPSIS if start > 0 else "") + middle + (ELLIPSIS if end < len(text) else "")
