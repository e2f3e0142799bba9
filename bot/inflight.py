"""The Slack requests being answered right now, and turns for the work that can wait behind them.

One interpreter runs the acks and everything else (after-ack work, the command audit batch, outbox
delivery, the garbage collector: bot.collector has its own rule). Slack gives an ack 3 s before it shows
the user an error; the rest has no such limit. Work that can wait takes a `turn`:

- with no request in flight it goes at once;
- while requests are in flight it first waits up to `limit_s` for a gap;
- past that it goes when its share allows: one such turn at a time, and after a turn that spent `c`
  seconds of CPU while requests were waiting, the next one waits `c * (1 - share) / share`, so under
  sustained load that work takes about `share` of the interpreter instead of all of it at once (a backlog
  that came due together used to stall the acks behind it: bench/ack_latency.py);
- it never waits longer than `starve_s`, whatever the load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

YIELD_LIMIT_S = 2.0
SHARE = 0.25
STARVE_S = 30.0


class InFlight:
    def __init__(
        self, limit_s: float = YIELD_LIMIT_S, share: float = SHARE, starve_s: float = STARVE_S
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.limit_s = limit_s
        self.starve_s = max(starve_s, limit_s)
        self._pause_per_cpu_s = (1 - share) / share
        self._quiet = threading.Condition()
        self._count = 0
        self._resume_at = 0.0
        self._paced = False

    @property
    def count(self) -> int:
        return self._count

    def busy(self) -> bool:
        """Whether a Slack request is being answered right now."""
        return self._count > 0

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Held around answering one Slack request."""
        with self._quiet:
            self._count += 1
        try:
            yield
        finally:
            with self._quiet:
                self._count -= 1
                if not self._count:
                    self._quiet.notify_all()

    @contextmanager
    def turn(self, since: float | None = None) -> Iterator[None]:
        """A turn for work that can wait (see the module); `since` is when it became due (monotonic;
        default now), which bounds its waits."""
        paced = self._enter(time.monotonic() if since is None else since)
        started = time.thread_time()
        try:
            yield
        finally:
            self._leave(paced, time.thread_time() - started)

    def _enter(self, since: float) -> bool:
        """Wait for this turn; True when it runs as the one paced turn while requests are in flight."""
        gap_until, starve_at = since + self.limit_s, since + self.starve_s
        with self._quiet:
            while self._count:
                now = time.monotonic()
                if now >= starve_at:
                    return False
                if now >= gap_until and now >= self._resume_at and not self._paced:
                    self._paced = True
                    return True
                # Woken early by the last request ending or the paced turn leaving.
                wake = starve_at if self._paced else min(starve_at, max(gap_until, self._resume_at))
                self._quiet.wait(max(wake - now, 0.001))
            return False

    def _leave(self, paced: bool, cpu_s: float) -> None:
        with self._quiet:
            if paced:
                self._paced = False
            if self._count:
                now = time.monotonic()
                self._resume_at = max(self._resume_at, now) + cpu_s * self._pause_per_cpu_s
            self._quiet.notify_all()
