"""The simulator clock: cloud time that runs `time_scale` times faster than real time and can jump."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class SimClock:
    """Thread-safe simulated UTC clock; `now()` = start + scaled real elapsed time + explicit advances."""

    def __init__(
        self,
        *,
        start: datetime | None = None,
        time_scale: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self._anchor_sim = (start or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        self._anchor_real = monotonic()
        self._scale = float(time_scale)

    @property
    def time_scale(self) -> float:
        """Simulated seconds per real second."""
        with self._lock:
            return self._scale

    def now(self) -> datetime:
        """Current simulated time (timezone-aware UTC)."""
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> datetime:
        elapsed = (self._monotonic() - self._anchor_real) * self._scale
        return self._anchor_sim + timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> datetime:
        """Jump forward by `seconds` of simulated time; returns the new now."""
        if seconds < 0:
            raise ValueError("the simulator clock only moves forward")
        with self._lock:
            self._anchor_sim = self._now_locked() + timedelta(seconds=seconds)
            self._anchor_real = self._monotonic()
            return self._anchor_sim

    def set_time_scale(self, time_scale: float) -> None:
        """Change the speed from now on (0 freezes the clock; only `advance` moves it then)."""
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        with self._lock:
            self._anchor_sim = self._now_locked()
            self._anchor_real = self._monotonic()
            self._scale = float(time_scale)
