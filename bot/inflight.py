"""The Slack requests being answered right now, and a way for work that can wait to let them go first.

One interpreter runs the acks and everything else (after-ack work, the command audit batch, the garbage
collector). Slack gives an ack 3 s before it shows the user an error; the rest has no such limit. Work that
can wait calls `yield_to_requests` first: it returns once nothing is in flight, or after `limit_s`, so
under sustained load that work still runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

YIELD_LIMIT_S = 2.0


class InFlight:
    def __init__(self, limit_s: float = YIELD_LIMIT_S) -> None:
        self.limit_s = limit_s
        self._quiet = threading.Condition()
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

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

    def yield_to_requests(self, since: float | None = None) -> None:
        """Wait until no request is in flight, at most `limit_s` after `since` (a monotonic time; default
        now)."""
        deadline = (time.monotonic() if since is None else since) + self.limit_s
        with self._quiet:
            while self._count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._quiet.wait(remaining)
