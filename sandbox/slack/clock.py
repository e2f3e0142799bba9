"""Time sources for the Slack stand-in: wall time by default, or a manual clock tests move by hand."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]
"""Returns Unix epoch seconds; message ts, trigger expiry and rate-limit refills all read it."""


class ManualClock:
    """A clock that stands still until `advance` is called, so limits and expiries are deterministic."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._now = start

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward (never backwards)."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self._now += seconds


def wall_clock() -> float:
    """Real time, the default."""
    return time.time()
