"""Regular expressions compiled on first use, and not at all where a cheap literal test says no match.

Compiling the ~60 module-level patterns of the rules cost about 17 ms of every start-up (issue 11:
`gatekeeper diff` must start in under 80 ms). `lazy(...)` returns a `Pattern` that compiles on
first use. With `needs=(literal, ...)` (every match contains at least one of them) or
`shortest=n` (no match is shorter than n), `search`, `match`, `fullmatch`, `finditer` and
`findall` on a text that cannot match answer "no match" without compiling or scanning with `re`:
most rules never see their trigger in a typical release, so most patterns are never compiled.

`needs` literals are exact (case-sensitive) substrings, so they are refused with `re.IGNORECASE`.
The answers are those of the compiled pattern: `tests/test_patterns.py` checks every declared
pattern against `re` on texts with and without its literals.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, AnyStr

#: Every lazy pattern declared, for the test that checks each against `re` (`tests/test_patterns.py`).
DECLARED: list[Pattern] = []


class Pattern:
    """A regular expression compiled on first use (see the module docstring)."""

    __slots__ = ("_compiled", "flags", "needs", "pattern", "shortest")

    def __init__(self, pattern: Any, flags: int = 0, *, needs: tuple[Any, ...] = (), shortest: int = 0) -> None:
        if needs and flags & re.IGNORECASE:
            raise ValueError("needs= literals are exact substrings: not usable with re.IGNORECASE")
        self.pattern = pattern
        self.flags = flags
        self.needs = needs
        self.shortest = shortest
        self._compiled: re.Pattern[Any] | None = None

    @property
    def compiled(self) -> re.Pattern[Any]:
        """The `re.Pattern` (compiled now if it was not yet)."""
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self.flags)
        return self._compiled

    def impossible(self, text: Any) -> bool:
        """True when `text` cannot hold a match (too short, or none of the needed literals)."""
        if len(text) < self.shortest:
            return True
        return bool(self.needs) and not any(literal in text for literal in self.needs)

    def search(self, text: AnyStr, *args: int) -> re.Match[AnyStr] | None:
        return None if self.impossible(text) else self.compiled.search(text, *args)

    def match(self, text: AnyStr, *args: int) -> re.Match[AnyStr] | None:
        return None if self.impossible(text) else self.compiled.match(text, *args)

    def fullmatch(self, text: AnyStr, *args: int) -> re.Match[AnyStr] | None:
        return None if self.impossible(text) else self.compiled.fullmatch(text, *args)

    def finditer(self, text: AnyStr, *args: int) -> Iterator[re.Match[AnyStr]]:
        return iter(()) if self.impossible(text) else self.compiled.finditer(text, *args)

    def findall(self, text: AnyStr, *args: int) -> list[Any]:
        return [] if self.impossible(text) else self.compiled.findall(text, *args)

    def __getattr__(self, name: str) -> Any:  # sub, split, groups, groupindex...: the compiled pattern's
        return getattr(self.compiled, name)

    def __repr__(self) -> str:
        return f"lazy({self.pattern!r})"


def lazy(pattern: Any, flags: int = 0, *, needs: tuple[Any, ...] = (), shortest: int = 0) -> Pattern:
    """Declare a pattern compiled on first use; see the module docstring for `needs` and `shortest`."""
    declared = Pattern(pattern, flags, needs=needs, shortest=shortest)
    DECLARED.append(declared)
    return declared
