"""The run's wall-clock deadline (`budget.Deadline`), in a module of its own: a run creates it first,
before `requests` (which the rest of `budget` needs) is imported."""

from __future__ import annotations

import time
from typing import Any


class Deadline:
    """The run's wall-clock deadline (monotonic). `seconds=None`: none."""

    def __init__(self, seconds: float | None = None, *, clock: Any = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self.started = clock()
        self.at = None if seconds is None else self.started + seconds

    def remaining(self) -> float:
        """Seconds left (inf without a deadline; may be negative)."""
        return float("inf") if self.at is None else self.at - self._clock()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def elapsed(self) -> float:
        return self._clock() - self.started

    def limit(self, seconds: float) -> float:
        """min(seconds, remaining), never below 0."""
        return max(0.0, min(seconds, self.remaining()))

    def describe(self) -> str:
        return "no run deadline" if self.seconds is None else f"the run's `timeout` of {self.seconds:g} s"
