"""Minimal semantic versions (semver 2.0.0): parse and order, prereleases included.

Only exact versions (what `package.json` `version` holds), not ranges. A leading
`v` or `=` is accepted as npm's loose parse does; build metadata is ignored in
ordering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

_SEMVER = re.compile(r"^[v=]?\s*(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$")
MAX_LENGTH = 256


@total_ordering
@dataclass(frozen=True)
class Version:
    """A parsed version; compares by semver precedence."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()
    build: str = ""

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(p) for p in self.prerelease)
        return text + (f"+{self.build}" if self.build else "")

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        # A release sorts after all its prereleases; numeric identifiers sort before alphanumeric ones.
        pre = tuple((0, p) if isinstance(p, int) else (1, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    @property
    def core(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)


def parse(text: object) -> Version | None:
    """Parse an exact version; None when it is not valid semver."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        return None
    m = _SEMVER.match(text.strip())
    if not m:
        return None
    pre: tuple[int | str, ...] = ()
    if m.group(4):
        pre = tuple(int(p) if p.isdigit() else p for p in m.group(4).split("."))
    return Version(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre, m.group(5) or "")


def release_type(old: Version, new: Version) -> str:
    """`major` | `minor` | `patch` | `prerelease` | `none` (new <= old) between two versions."""
    if new <= old:
        return "none"
    if new.major != old.major:
        return "major"
    if new.minor != old.minor:
        return "minor"
    if new.patch != old.patch:
        return "patch"
    return "prerelease"


def highest_below(versions: list[str], limit: Version) -> str | None:
    """The highest valid version strictly below `limit`, or None."""
    best: tuple[Version, str] | None = None
    for text in versions:
        v = parse(text)
        if v is not None and v < limit and (best is None or best[0] < v):
            best = (v, text)
    return best[1] if best else None
